import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { partitionOf } from './partition.js';
import { tombstone, type Entry } from './entry.js';
import type { EntryIndex } from './entry-index.js';
import { encodeVersion } from './hlc.js';
import { LmdbEntryIndex } from './lmdb-entry-index.js';
import { LmdbEnvironment } from './lmdb-environment.js';
import { MemoryEntryIndex } from './memory-entry-index.js';

const part = (key: string) => partitionOf(key, 2);
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * Beyond the shared table (entry-index.spec.ts): random operation sequences applied to both implementations side by
 * side, comparing every answer after every step, so the memory index cannot drift from LMDB in any query.
 */
describe('EntryIndex: memory and LMDB give the same answers to the same operations (property)', () => {
  let root: string;
  let run = 0;

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'shoal-twin-'));
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const KEYS = ['a', 'a/b', 'ab', 'b', '\ue000', '\u{1f41f}', 'é', 'z'];
  const CONTENTS = [0, 1, 2].map((i) => ({ sha: sha(`c-${i}`), size: 5 + i * 20_000, inline: i === 0 }));
  type Op = { kind: 'put' | 'delete'; key: string; ms: number; content: number } | { kind: 'purge'; key: string; stale: boolean };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constantFrom('put' as const, 'delete' as const), key: fc.constantFrom(...KEYS), ms: fc.integer({ min: 1, max: 20 }), content: fc.integer({ min: 0, max: 2 }) }),
    fc.record({ kind: fc.constant('purge' as const), key: fc.constantFrom(...KEYS), stale: fc.boolean() }),
  );

  /** Everything a caller can ask, in one comparable value. */
  function answers(s: EntryIndex): unknown {
    return {
      scan: [...s.scan('')],
      from: KEYS.map((k) => [...s.scan(k, 3)].map((e) => e.key)),
      partitions: [...s.partitions()],
      byPartition: [0, 1, 2, 3].map((p) => [[...s.scanPartition(p)], ...KEYS.map((k) => [...s.scanPartition(p, k)].map((e) => e.key))]),
      digests: [0, 1, 2, 3].map((p) => s.digest(p).toString('hex')),
      tombstones: [0, 5, 10, 21].map((t) => [s.expiredTombstones(t, 100), s.expiredTombstones(t, 2)]),
      refs: CONTENTS.map((c) => [s.refCount(c.sha), s.hasInline(c.sha), s.getInline(c.sha)?.toString('hex')]),
      counters: s.counters(),
      count: s.entryCount(),
      hw: s.clockHighWater(),
      get: KEYS.map((k) => s.get(k)),
    };
  }

  it('after every operation', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
        const env = new LmdbEnvironment(path.join(root, `twin-${++run}`));
        const disk = new LmdbEntryIndex(env);
        const mem = new MemoryEntryIndex();
        try {
          for (const o of ops) {
            const partition = part(o.key);
            let results: unknown[];
            if (o.kind === 'purge') {
              const version = o.stale ? encodeVersion(0, 0, 'nobody') : (disk.get(o.key)?.version ?? encodeVersion(0, 0, 'nobody'));
              results = await Promise.all([disk.purge(o.key, partition, version), mem.purge(o.key, partition, version)]);
            } else {
              const c = CONTENTS[o.content];
              const v = encodeVersion(o.ms, 0, 'n1');
              const e: Entry = o.kind === 'put' ? { key: o.key, version: v, sha256: c.sha, size: c.size, contentType: 'x/y', updatedAt: o.ms, deleted: false } : tombstone(o.key, v, o.ms);
              const data = o.kind === 'put' && c.inline ? Buffer.alloc(c.size, 7) : undefined;
              results = await Promise.all([disk.apply(e, partition, data), mem.apply(e, partition, data)]);
            }
            expect(results[1]).toEqual(results[0]);
            expect(answers(mem)).toEqual(answers(disk));
          }
        } finally {
          await env.close();
        }
      }),
      { numRuns: 40 },
    );
  });
});
