import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { tombstone, type Entry } from './entry.js';
import { encodeVersion } from './hlc.js';
import { LmdbEnvironment } from './lmdb-environment.js';
import { LmdbHintRepository, LmdbQuarantineRepository, LmdbSyncStateRepository } from './lmdb-repositories.js';
import { MemoryHintRepository, MemoryQuarantineRepository, MemorySyncStateRepository } from './memory-repositories.js';
import type { HintRepository, QuarantineRepository, SyncStateRepository } from './repositories.js';

interface Repos {
  hints: HintRepository;
  sync: SyncStateRepository;
  quarantine: QuarantineRepository;
  /** A restart: the same data, reopened (the LMDB ones from disk). */
  reopen(): Promise<Repos>;
  done(): Promise<void>;
}

async function lmdb(dir?: string): Promise<Repos> {
  const d = dir ?? (await mkdtemp(path.join(os.tmpdir(), 'shoal-repos-')));
  const env = new LmdbEnvironment(d);
  return {
    hints: new LmdbHintRepository(env),
    sync: new LmdbSyncStateRepository(env),
    quarantine: new LmdbQuarantineRepository(env),
    reopen: async () => {
      await env.close();
      return lmdb(d);
    },
    done: async () => {
      await env.close();
      await rm(d, { recursive: true, force: true });
    },
  };
}

async function memory(): Promise<Repos> {
  const repos: Repos = {
    hints: new MemoryHintRepository(),
    sync: new MemorySyncStateRepository(),
    quarantine: new MemoryQuarantineRepository(),
    reopen: async () => repos,
    done: async () => undefined,
  };
  return repos;
}

const v = (ms: number) => encodeVersion(ms, 0, 'n1');
const live = (key: string): Entry => ({ key, version: v(1), sha256: 'ab'.repeat(32), size: 3, contentType: 'x/y', updatedAt: 1, deleted: false });

describe.each([
  ['LMDB', lmdb],
  ['memory', memory],
])('typed repositories (%s)', (_name, make) => {
  let r: Repos;

  beforeEach(async () => {
    r = await make();
  });

  afterEach(() => r.done());

  it('hints: put replaces, iterates in (target, key) order in the store\'s key order, survives a restart', async () => {
    await r.hints.put(['n2', 'b'], v(1));
    await r.hints.put(['n1', 'z'], v(1));
    await r.hints.put(['n10', 'a'], v(1));
    await r.hints.put(['n1', '\u{1f41f}'], v(1));
    await r.hints.put(['n1', '\ue000'], v(1));
    await r.hints.put(['n2', 'b'], v(5));
    r = await r.reopen();
    expect([...r.hints.getRange({})].map((h) => [...h.key, h.value])).toEqual([
      ['n1', 'z', v(1)],
      ['n1', '\ue000', v(1)],
      ['n1', '\u{1f41f}', v(1)],
      ['n10', 'a', v(1)],
      ['n2', 'b', v(5)],
    ]);
    expect(r.hints.getCount()).toBe(5);
    expect([...r.hints.getRange({ limit: 2 })]).toHaveLength(2);
    expect(r.hints.get(['n2', 'b'])).toBe(v(5));
    expect(r.hints.doesExist(['n2', 'a'])).toBe(false);
  });

  it('hints: remove, and a compare-and-remove inside a transaction', async () => {
    await r.hints.put(['n1', 'k'], v(3));
    await r.hints.put(['n1', 'j'], v(3));
    await r.hints.remove(['n1', 'j']);
    const removeIfNotNewer = (delivered: string) =>
      r.hints.transaction(() => {
        const pending = r.hints.get(['n1', 'k']);
        if (pending === undefined || pending > delivered) return false;
        return r.hints.removeSync(['n1', 'k']);
      });
    expect(await removeIfNotNewer(v(2))).toBe(false);
    expect(r.hints.doesExist(['n1', 'k'])).toBe(true);
    expect(await removeIfNotNewer(v(3))).toBe(true);
    expect(r.hints.getCount()).toBe(0);
  });

  it('sync state: absent at first, then the last time put, after a restart too', async () => {
    expect(r.sync.get()).toBeUndefined();
    await r.sync.put({ lastFullSyncAt: 123 });
    await r.sync.put({ lastFullSyncAt: 456 });
    r = await r.reopen();
    expect(r.sync.get()).toEqual({ lastFullSyncAt: 456 });
  });

  it('quarantine: one record per key, counted and listed in key order', async () => {
    await r.quarantine.put(live('b'));
    await r.quarantine.put(live('a'));
    await r.quarantine.put({ ...live('b'), version: v(2) });
    await r.quarantine.put(tombstone('c', v(1), 1));
    r = await r.reopen();
    expect(r.quarantine.count()).toBe(3);
    expect(r.quarantine.list(10).map((e) => [e.key, e.version])).toEqual([
      ['a', v(1)],
      ['b', v(2)],
      ['c', v(1)],
    ]);
    expect(r.quarantine.list(1)).toEqual([live('a')]);
  });
});
