import type { NodeInfoSection } from '../info/node-info-section.js';
import type { NodeStatsSource } from './node-stats.js';

/** What the local store holds, and the space of its disk. */
export function storageInfo(store: NodeStatsSource): NodeInfoSection {
  return {
    name: 'storage',
    describe: async () => {
      const s = await store.stats();
      return { files: s.files, usedBytes: s.usedBytes, freeBytes: s.freeBytes, capacityBytes: s.capacityBytes };
    },
  };
}
