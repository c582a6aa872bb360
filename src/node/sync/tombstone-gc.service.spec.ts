import { Readable } from 'node:stream';
import { tombstone } from '../storage/entry.js';
import { encodeVersion } from '../storage/hlc.js';
import type { LocalStoreService } from '../storage/local-store.service.js';
import { createMemoryStorage } from '../storage/memory-store.js';
import { TombstoneGcService } from './tombstone-gc.service.js';

describe('TombstoneGcService', () => {
  let store: LocalStoreService;
  let gc: TombstoneGcService;
  const TTL = 10_000;

  beforeEach(async () => {
    const storage = await createMemoryStorage({ config: { tombstoneTtlMs: TTL } });
    store = storage.store;
    gc = new TombstoneGcService(storage.config, store, storage.metrics);
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
