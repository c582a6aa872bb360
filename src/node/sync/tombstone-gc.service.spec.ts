import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { NodeConfig } from '../../config/app-config.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { NodeIdentity } from '../identity/node-identity.js';
import { tombstone } from '../storage/entry.js';
import { encodeVersion } from '../storage/hlc.js';
import { LocalStoreService } from '../storage/local-store.service.js';
import { TombstoneGcService } from './tombstone-gc.service.js';

describe('TombstoneGcService', () => {
  let dir: string;
  let store: LocalStoreService;
  let gc: TombstoneGcService;
  const TTL = 10_000;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'shoal-gc-'));
    const config = { role: 'node', dataDir: dir, partitionBits: 4, tombstoneTtlMs: TTL } as NodeConfig;
    const metrics = new MetricsService();
    store = new LocalStoreService(config, new NodeIdentity('n1', 'http://x'), metrics);
    await store.onModuleInit();
    gc = new TombstoneGcService(config, store, metrics);
  });

  afterEach(async () => {
    await store.onApplicationShutdown();
    await rm(dir, { recursive: true, force: true });
  });

  const at = (ms: number) => encodeVersion(ms, 0, 'n1');

  async function live(key: string, ms: number): Promise<void> {
    const staged = await store.stage(Readable.from([Buffer.from(key)]), {});
    await store.commit({ key, version: at(ms), sha256: staged.sha256, size: staged.size, contentType: 'text/plain', updatedAt: ms, deleted: false }, staged);
  }

  it('purges only tombstones older than the TTL, never live entries, by version time', async () => {
    await live('old-live', 1_000);
    await live('deleted-long-ago', 1_000);
    await store.commit(tombstone('deleted-long-ago', at(2_000), 2_000));
    await live('deleted-recently', 1_000);
    await store.commit(tombstone('deleted-recently', at(95_000), 95_000));
    await store.commit(tombstone('never-existed-here', at(3_000), 3_000));

    expect(await gc.run(100_000)).toBe(2);
    expect(store.get('deleted-long-ago')).toBeUndefined();
    expect(store.get('never-existed-here')).toBeUndefined();
    expect(store.get('deleted-recently')?.deleted).toBe(true);
    expect(store.get('old-live')?.deleted).toBe(false);
    expect(await gc.run(100_000)).toBe(0);
  });

  it('forgets a tombstone in its index once a newer write replaces it', async () => {
    await store.commit(tombstone('k', at(1_000), 1_000));
    await live('k', 2_000);
    expect(await gc.run(1_000_000)).toBe(0);
    expect(store.get('k')?.deleted).toBe(false);
  });
});
