import type { NodeInfoSection } from '../info/node-info-section.js';
import type { PlacementService } from './placement.service.js';

/** The quorums in force (N, W and R as the current membership allows them). */
export function placementInfo(placement: PlacementService): NodeInfoSection {
  return { name: 'placement', describe: () => ({ quorums: { ...placement.effective() } }) };
}
