import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { partitionOf } from './partition.js';
import { entryHash, tombstone, xorInto, type Entry } from './entry.js';
import { compareVersions, encodeVersion } from './hlc.js';
import { compareKeys } from './keys.js';
import type { EntryIndex } from './entry-index.js';
import { LmdbEntryIndex } from './lmdb-entry-index.js';
import { LmdbEnvironment } from './lmdb-environment.js';
import { MemoryEntryIndex } from './memory-entry-index.js';

const BITS = 2; // 4 partitions: plenty of keys share one, so digests see many updates
const part = (key: string) => partitionOf(key, BITS);
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function live(key: string, version: string, content: string, size = content.length, contentType = 'text/plain'): Entry {
  return { key, version, sha256: sha(content), size, contentType, updatedAt: 1, deleted: false };
}

/**
 * The implementations under one table of cases, so the memory one cannot drift from LMDB. `open` of a path opened
 * and closed before is a restart over the same data (LMDB re-reads its files; memory keeps the instance).
 */
/** One temp dir for the file's LMDB environments (the memory index only uses the paths as names). */
let root: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'shoal-index-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

interface Impl {
  open(dir: string): EntryIndex;
  close(index: EntryIndex): Promise<void>;
}

const envs = new WeakMap<EntryIndex, LmdbEnvironment>();
const lmdb: Impl = {
  open(dir) {
    const env = new LmdbEnvironment(dir);
    const index = new LmdbEntryIndex(env);
    envs.set(index, env);
    return index;
  },
  close: (index) => envs.get(index)!.close(),
};
const memories = new Map<string, MemoryEntryIndex>();
const memory: Impl = {
  open(dir) {
    const index = memories.get(dir) ?? new MemoryEntryIndex();
    memories.set(dir, index);
    return index;
  },
  close: async () => undefined,
};

/** The digest of one partition computed from scratch: XOR of the hashes of the entries the store holds there. */
function digestFromScratch(store: EntryIndex, partition: number): Buffer {
  const d = Buffer.alloc(32);
  for (const e of store.scanPartition(partition)) xorInto(d, entryHash(e));
  return d;
}

describe.each([
  ['LMDB', lmdb],
  ['memory', memory],
])('EntryIndex (%s)', (_name, impl) => {
  let dir: string;
  let store: EntryIndex;
  let n = 0;

  beforeEach(() => {
    dir = path.join(root, `s${++n}`);
    store = impl.open(dir);
  });

  afterEach(async () => {
    await impl.close(store);
  });

  describe('last writer wins', () => {
    it('applies a newer version and ignores an older one', async () => {
      const v1 = encodeVersion(1000, 0, 'n1');
      const v2 = encodeVersion(2000, 0, 'n1');
      const newer = live('k', v2, 'new content');
      expect((await store.apply(newer, part('k'))).applied).toBe(true);
      const digestAfterNewer = Buffer.from(store.digest(part('k')));
      const countersAfterNewer = store.counters();

      const older = await store.apply(live('k', v1, 'old content'), part('k'));
      expect(older).toEqual({ applied: false, previous: newer, freed: [] });
      expect(store.get('k')).toEqual(newer);
      expect(store.digest(part('k'))).toEqual(digestAfterNewer);
      expect(store.counters()).toEqual(countersAfterNewer);
      expect(store.refCount(sha('old content'))).toBe(0);
      expect(store.refCount(sha('new content'))).toBe(1);
    });

    it('is idempotent: the same version applied twice changes nothing the second time', async () => {
      const v = encodeVersion(1000, 3, 'n2');
      const e = live('k', v, 'x'.repeat(100), 100);
      expect((await store.apply(e, part('k'), Buffer.alloc(100, 'x'))).applied).toBe(true);
      const before = { digest: Buffer.from(store.digest(part('k'))), counters: store.counters(), refs: store.refCount(e.sha256) };
      const again = await store.apply(e, part('k'), Buffer.alloc(100, 'x'));
      expect(again.applied).toBe(false);
      expect(again.freed).toEqual([]);
      expect({ digest: store.digest(part('k')), counters: store.counters(), refs: store.refCount(e.sha256) }).toEqual(before);
      expect(store.counters()).toEqual({ files: 1, bytes: 100 });
    });

    it('orders versions by (ms, counter, node id)', async () => {
      const versions = [encodeVersion(5, 1, 'a'), encodeVersion(5, 0, 'z'), encodeVersion(5, 1, 'b'), encodeVersion(4, 9, 'z')];
      for (const v of versions) await store.apply(live('k', v, v), part('k'));
      expect(store.get('k')?.version).toBe(encodeVersion(5, 1, 'b'));
      expect(store.clockHighWater()).toBe(encodeVersion(5, 1, 'b'));
    });

    it('a newer tombstone hides a file; an older file does not resurrect it', async () => {
      await store.apply(live('k', encodeVersion(10, 0, 'n'), 'abc', 3), part('k'), Buffer.from('abc'));
      const del = await store.apply(tombstone('k', encodeVersion(20, 0, 'n'), 2), part('k'));
      expect(del.applied).toBe(true);
      expect(store.get('k')?.deleted).toBe(true);
      expect(store.counters()).toEqual({ files: 0, bytes: 0 });
      expect(store.refCount(sha('abc'))).toBe(0);
      expect(store.hasInline(sha('abc'))).toBe(false);
      expect((await store.apply(live('k', encodeVersion(15, 0, 'n'), 'abc', 3), part('k'), Buffer.from('abc'))).applied).toBe(false);
      expect(store.get('k')?.deleted).toBe(true);
      expect(store.hasInline(sha('abc'))).toBe(false);
    });
  });

  describe('purge', () => {
    it('erases an entry only at the expected version and restores the digest', async () => {
      const other = live('other', encodeVersion(1, 0, 'n'), 'o');
      await store.apply(other, part('other'));
      const digestBefore = Buffer.from(store.digest(part('k')));
      const e = live('k', encodeVersion(2, 0, 'n'), 'abc');
      await store.apply(e, part('k'));
      expect((await store.purge('k', part('k'), encodeVersion(1, 0, 'n'))).applied).toBe(false);
      expect(store.get('k')).toEqual(e);
      const purged = await store.purge('k', part('k'), e.version);
      expect(purged.applied).toBe(true);
      expect(purged.freed).toEqual([e.sha256]);
      expect(store.get('k')).toBeUndefined();
      expect([...store.scanPartition(part('k'))].map((x) => x.key)).not.toContain('k');
      expect(store.digest(part('k'))).toEqual(digestBefore);
      expect(store.counters()).toEqual({ files: 1, bytes: 1 });
    });
  });

  describe('reference counts', () => {
    it('counts keys per content; the last dropped reference of a file blob is reported as freed, of an inline blob never', async () => {
      const big = sha('big');
      await store.apply({ ...live('a', encodeVersion(1, 0, 'n'), 'big', 20_000) }, part('a'));
      await store.apply({ ...live('b', encodeVersion(1, 0, 'n'), 'big', 20_000) }, part('b'));
      expect(store.refCount(big)).toBe(2);
      expect((await store.apply(tombstone('a', encodeVersion(2, 0, 'n'), 0), part('a'))).freed).toEqual([]);
      expect(store.refCount(big)).toBe(1);
      expect((await store.apply(tombstone('b', encodeVersion(2, 0, 'n'), 0), part('b'))).freed).toEqual([big]);
      expect(store.refCount(big)).toBe(0);

      const small = sha('small');
      await store.apply(live('c', encodeVersion(3, 0, 'n'), 'small'), part('c'), Buffer.from('small'));
      await store.apply(live('d', encodeVersion(3, 0, 'n'), 'small'), part('d'), Buffer.from('small'));
      expect(store.getInline(small)).toEqual(Buffer.from('small'));
      await store.apply(tombstone('c', encodeVersion(4, 0, 'n'), 0), part('c'));
      expect(store.getInline(small)).toEqual(Buffer.from('small'));
      const last = await store.apply(tombstone('d', encodeVersion(4, 0, 'n'), 0), part('d'));
      expect(last.freed).toEqual([]);
      expect(store.hasInline(small)).toBe(false);
    });

    it('overwriting a key with the same content keeps one reference', async () => {
      await store.apply(live('a', encodeVersion(1, 0, 'n'), 'same', 20_000), part('a'));
      const r = await store.apply(live('a', encodeVersion(2, 0, 'n'), 'same', 20_000), part('a'));
      expect(r).toMatchObject({ applied: true, freed: [] });
      expect(store.refCount(sha('same'))).toBe(1);
      expect(store.counters()).toEqual({ files: 1, bytes: 20_000 });
    });
  });

  describe('digests, reference counts and counters after any sequence of operations (property)', () => {
    const KEYS = ['a', 'b', 'c', 'd', 'e/1', 'e/2', 'ü', '🐟'];
    // Contents 0 and 1 are small (inline), 2 and 3 large (files on disk).
    const CONTENTS = [0, 1, 2, 3].map((i) => ({ sha: sha(`content-${i}`), size: i < 2 ? 10 + i : 20_000 + i, inline: i < 2 }));

    type Op =
      | { kind: 'put'; key: string; ms: number; node: string; content: number }
      | { kind: 'delete'; key: string; ms: number; node: string }
      | { kind: 'purge'; key: string; stale: boolean }
      | { kind: 'reopen' };

    const version = fc.record({ ms: fc.integer({ min: 1, max: 30 }), node: fc.constantFrom('n1', 'n2', 'n3') });
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant('put' as const), key: fc.constantFrom(...KEYS), content: fc.integer({ min: 0, max: 3 }) }).chain((p) => version.map((v) => ({ ...p, ...v }))) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.constantFrom(...KEYS) }).chain((p) => version.map((v) => ({ ...p, ...v }))) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('purge' as const), key: fc.constantFrom(...KEYS), stale: fc.boolean() }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
    );

    it('matches a model and a digest recomputed from scratch', async () => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 60 }), async (ops) => {
          const runDir = path.join(root, `prop-${++run}`);
          let s = impl.open(runDir);
          const model = new Map<string, Entry>();
          /** Blob files a LocalStore would hold: placed when applied, unlinked when reported freed. */
          const files = new Set<string>();
          try {
            for (const o of ops) {
              if (o.kind === 'reopen') {
                await impl.close(s);
                s = impl.open(runDir);
                continue;
              }
              if (o.kind === 'purge') {
                const cur = model.get(o.key);
                const expected = cur && !o.stale ? cur.version : encodeVersion(0, 0, 'nobody');
                const r = await s.purge(o.key, part(o.key), expected);
                expect(r.applied).toBe(Boolean(cur && !o.stale));
                if (r.applied) model.delete(o.key);
                for (const f of r.freed) files.delete(f);
                continue;
              }
              const v = encodeVersion(o.ms, 0, o.node);
              const e: Entry =
                o.kind === 'put'
                  ? { key: o.key, version: v, sha256: CONTENTS[o.content].sha, size: CONTENTS[o.content].size, contentType: 'x/y', updatedAt: o.ms, deleted: false }
                  : tombstone(o.key, v, o.ms);
              const c = o.kind === 'put' ? CONTENTS[o.content] : undefined;
              const inlineData = o.kind === 'put' && c?.inline ? Buffer.alloc(c.size, o.content) : undefined;
              const r = await s.apply(e, part(o.key), inlineData);
              const cur = model.get(o.key);
              const shouldApply = !cur || compareVersions(cur.version, v) < 0;
              expect(r.applied).toBe(shouldApply);
              if (shouldApply) {
                model.set(o.key, e);
                if (c && !c.inline) files.add(c.sha);
              }
              for (const f of r.freed) {
                expect(s.refCount(f)).toBe(0);
                files.delete(f);
              }
            }

            // Entries are exactly the model's.
            expect([...s.scan('')].sort(byKey)).toEqual([...model.values()].sort(byKey));
            expect(s.entryCount()).toBe(model.size);
            // Every partition's digest equals the one recomputed from scratch (and from the model).
            for (let p = 0; p < 2 ** BITS; p++) {
              const fromModel = Buffer.alloc(32);
              for (const e of model.values()) if (part(e.key) === p) xorInto(fromModel, entryHash(e));
              expect(s.digest(p).toString('hex')).toBe(digestFromScratch(s, p).toString('hex'));
              expect(s.digest(p).toString('hex')).toBe(fromModel.toString('hex'));
            }
            // Reference counts, inline blobs and counters follow the live entries.
            const liveEntries = [...model.values()].filter((e) => !e.deleted);
            for (const c of CONTENTS) {
              const refs = liveEntries.filter((e) => e.sha256 === c.sha).length;
              expect(s.refCount(c.sha)).toBe(refs);
              if (c.inline) expect(s.hasInline(c.sha)).toBe(refs > 0);
              else expect(files.has(c.sha)).toBe(refs > 0);
            }
            expect(s.counters()).toEqual({ files: liveEntries.length, bytes: liveEntries.reduce((a, e) => a + e.size, 0) });
          } finally {
            await impl.close(s);
          }
        }),
        { numRuns: 60 },
      );
    });
  });

  describe('scans', () => {
    it('keeps keys in UTF-8 byte order, which compareKeys describes (not JS <)', async () => {
      const key = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }).filter((k) => !/[\u0000-\u001f\u007f-\u009f]/.test(k));
      await fc.assert(
        fc.asyncProperty(fc.uniqueArray(key, { minLength: 1, maxLength: 20 }), async (keys) => {
          const runDir = path.join(root, `order-${++n}`);
          const s = impl.open(runDir);
          try {
            await Promise.all(keys.map((k) => s.apply(live(k, encodeVersion(1, 0, 'n'), k), 0))); // one batched commit
            const stored = [...s.scan('')].map((e) => e.key);
            expect(stored).toEqual([...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
            expect(stored).toEqual([...keys].sort(compareKeys));
          } finally {
            await impl.close(s);
          }
        }),
        { numRuns: 30 },
      );
      for (const [a, b] of [['\ue000', '\u{1f41f}'], ['\uffee', '\u{10000}'], ['a', 'ab'], ['\u00e9', '\u0800']]) {
        expect(Math.sign(compareKeys(a, b))).toBe(-1);
        expect(Math.sign(compareKeys(b, a))).toBe(1);
      }
      expect(compareKeys('\u{1f41f}x', '\u{1f41f}x')).toBe(0);
    });

    it('scanPartition resumes strictly after a key', async () => {
      const keys = ['a', 'a/b', 'ab', 'b', 'ba', 'c'];
      // All in one partition regardless of their hash: the partition is the caller's choice.
      for (const k of keys) await store.apply(live(k, encodeVersion(1, 0, 'n'), k), 3);
      expect([...store.scanPartition(3)].map((e) => e.key)).toEqual(keys);
      expect([...store.scanPartition(3, 'a')].map((e) => e.key)).toEqual(keys.slice(1));
      expect([...store.scanPartition(3, 'ab')].map((e) => e.key)).toEqual(['b', 'ba', 'c']);
      expect([...store.scanPartition(3, 'c')]).toEqual([]);
      expect([...store.scanPartition(2)]).toEqual([]);
    });
  });
});

function byKey(a: Entry, b: Entry): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}
