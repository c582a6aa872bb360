import type { NodeInfoSection } from '../info/node-info-section.js';
import type { RecoveryService } from '../sync/recovery.service.js';
import { NodeInfoService } from './node-info.service.js';

const recovery = { listQuarantined: () => [] } as unknown as RecoveryService;

/** The sections as the layers report them, deliberately out of the answer's field order. */
const sections: NodeInfoSection[] = [
  { name: 'sync', describe: () => ({ sync: { lastRoundMs: 1, lastRoundDiffering: 0, lastRoundPulled: 0, handoverBacklog: 0, quarantined: 0 } }) },
  { name: 'placement', describe: () => ({ quorums: { n: 3, w: 2, r: 2 } }) },
  { name: 'storage', describe: async () => ({ files: 2, usedBytes: 10, freeBytes: 5, capacityBytes: 20 }) },
  { name: 'replication', describe: () => ({ handoffPending: 0 }) },
  { name: 'membership', describe: () => ({ id: 'n1', url: 'http://n1', state: 'ready', members: [], registries: [] }) },
];

describe('NodeInfoService', () => {
  it('assembles the sections into one answer in the documented field order, whatever order they come in', async () => {
    const info = await new NodeInfoService(sections, recovery).describe();
    expect(Object.keys(info)).toEqual(['id', 'url', 'state', 'files', 'usedBytes', 'freeBytes', 'capacityBytes', 'quorums', 'handoffPending', 'members', 'registries', 'sync']);
    expect(JSON.stringify(info)).toBe(
      '{"id":"n1","url":"http://n1","state":"ready","files":2,"usedBytes":10,"freeBytes":5,"capacityBytes":20,"quorums":{"n":3,"w":2,"r":2},"handoffPending":0,"members":[],"registries":[],"sync":{"lastRoundMs":1,"lastRoundDiffering":0,"lastRoundPulled":0,"handoverBacklog":0,"quarantined":0}}',
    );
  });

  it('fails loudly when no section reports a required field (rather than answer against the schema)', async () => {
    await expect(new NodeInfoService(sections.filter((s) => s.name !== 'storage'), recovery).describe()).rejects.toThrow(/files/);
    // The sync report is optional in the document.
    expect(await new NodeInfoService(sections.filter((s) => s.name !== 'sync'), recovery).describe()).not.toHaveProperty('sync');
  });
});
