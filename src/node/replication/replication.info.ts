import type { NodeInfoSection } from '../info/node-info-section.js';
import type { HandoffService } from './handoff.service.js';

/** Writes this node still owes to owners that missed them (hinted handoff). */
export function replicationInfo(handoff: Pick<HandoffService, 'pending'>): NodeInfoSection {
  return { name: 'replication', describe: () => ({ handoffPending: handoff.pending() }) };
}
