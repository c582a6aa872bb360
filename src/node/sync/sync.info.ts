import type { NodeInfoSection } from '../info/node-info-section.js';
import type { SyncService } from './sync.service.js';

/** The last synchronisation round. */
export function syncInfo(sync: SyncService): NodeInfoSection {
  return { name: 'sync', describe: () => ({ sync: sync.status() }) };
}
