import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Database } from 'lmdb';
import { entryHash, xorInto, type Entry } from './entry.js';
import { ZERO_DIGEST } from './entry-index.js';
import { encodeVersion } from './hlc.js';
import { LmdbEntryIndex } from './lmdb-entry-index.js';
import { LmdbEnvironment } from './lmdb-environment.js';
import { partitionOf } from './partition.js';

/**
 * A metadata store written by the entry index of layout 1 (before issue #14: whole entries in `by-partition`,
 * counters and the clock's mark in two records) must open and read the same under layout 2, and keep working.
 * The fixture was written by that tree's own classes (fixtures/write-layout-1.mjs, run against a built checkout of it).
 */
const FIXTURE = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'layout-1');

interface Expected {
  bits: number;
  entries: Entry[];
  counters: { files: number; bytes: number };
  clockHighWater: string;
  digests: Record<string, string>;
  partitionKeys: Record<string, string[]>;
  refCounts: Record<string, number>;
  inline: Record<string, string>;
  expiredTombstones: string[];
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('LmdbEntryIndex over a data dir of layout 1', () => {
  let root: string;
  let expected: Expected;

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'shoal-layout-'));
    expected = JSON.parse(await readFile(path.join(FIXTURE, 'expected.json'), 'utf8')) as Expected;
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** A fresh copy of the fixture as DATA_DIR (opening migrates it, so each case starts from the old bytes). */
  async function oldDataDir(name: string): Promise<string> {
    const dir = path.join(root, name);
    await mkdir(path.join(dir, 'meta'), { recursive: true });
    await writeFile(path.join(dir, 'meta', 'data.mdb'), gunzipSync(await readFile(path.join(FIXTURE, 'data.mdb.gz'))));
    return dir;
  }

  function readsAsExpected(index: LmdbEntryIndex): void {
    expect([...index.scan('')]).toEqual(expected.entries);
    for (const e of expected.entries) expect(index.get(e.key)).toEqual(e);
    expect(index.entryCount()).toBe(expected.entries.length);
    expect(index.counters()).toEqual(expected.counters);
    expect(index.clockHighWater()).toBe(expected.clockHighWater);
    expect([...index.partitions()].map(String)).toEqual(Object.keys(expected.digests));
    for (const [p, hex] of Object.entries(expected.digests)) expect(index.digest(Number(p)).toString('hex')).toBe(hex);
    // A partition scan gives whole entries, in key order, whatever by-partition holds as values.
    for (const [p, keys] of Object.entries(expected.partitionKeys)) {
      const scanned = [...index.scanPartition(Number(p))];
      expect(scanned.map((e) => e.key)).toEqual(keys);
      for (const e of scanned) expect(e).toEqual(expected.entries.find((x) => x.key === e.key));
      if (keys.length > 1) expect([...index.scanPartition(Number(p), keys[0])].map((e) => e.key)).toEqual(keys.slice(1));
    }
    for (const [s, n] of Object.entries(expected.refCounts)) expect(index.refCount(s)).toBe(n);
    for (const [key, hash] of Object.entries(expected.inline)) expect(sha(index.getInline(expected.entries.find((e) => e.key === key)!.sha256)!)).toBe(hash);
    expect(index.expiredTombstones(Date.now(), 10).map((e) => e.key)).toEqual(expected.expiredTombstones);
  }

  it('reads every entry, digest, count, reference and inline blob as layout 1 did, before and after a restart', async () => {
    const dir = await oldDataDir('reads');
    let env = new LmdbEnvironment(dir);
    readsAsExpected(new LmdbEntryIndex(env));
    await env.close();
    env = new LmdbEnvironment(dir); // migrated once: a second open reads the same
    readsAsExpected(new LmdbEntryIndex(env));
    await env.close();
  });

  it('moves the inline blobs LMDB holds into the packs in the background, reading the same throughout', async () => {
    const dir = await oldDataDir('packs');
    let env = new LmdbEnvironment(dir);
    const inline: Database<Buffer, string> = env.openDB('inline', { encoding: 'binary' });
    const held = inline.getCount();
    expect(held).toBeGreaterThan(0);
    let index = new LmdbEntryIndex(env);
    let moved = 0;
    for (let steps = 0; ; steps++) {
      const step = await index.compact(64); // a few blobs a step
      moved += step.movedBytes;
      readsAsExpected(index);
      if (!step.more) break;
      expect(steps).toBeLessThan(100);
    }
    expect(inline.getCount()).toBe(0);
    expect(moved).toBeGreaterThan(0);
    index.close();
    await env.close();
    env = new LmdbEnvironment(dir);
    index = new LmdbEntryIndex(env);
    readsAsExpected(index);
    // the segment written before the restart is small: merged into the new one, nothing left to do after that
    for (let steps = 0; (await index.compact(1 << 20)).more; steps++) expect(steps).toBeLessThan(5);
    readsAsExpected(index);
    expect(env.openDB<Buffer, string>('inline', { encoding: 'binary' }).getCount()).toBe(0);
    index.close();
    await env.close();
  });

  it('merges the two state records into one when opened, and keeps counting from them', async () => {
    const dir = await oldDataDir('state');
    const env = new LmdbEnvironment(dir);
    const meta: Database<unknown, string> = env.openDB('meta');
    expect(meta.get('counters')).toEqual(expected.counters); // the fixture really is layout 1
    expect(meta.get('hlc')).toBe(expected.clockHighWater);
    const index = new LmdbEntryIndex(env);
    expect(meta.get('counters')).toBeUndefined();
    expect(meta.get('hlc')).toBeUndefined();
    expect(meta.get('state')).toEqual({ ...expected.counters, hlc: expected.clockHighWater });
    const data = Buffer.from('new');
    const version = encodeVersion(1_800_000_000_000, 0, 'new-node');
    await index.apply({ key: 'fresh', version, sha256: sha(data), size: 3, contentType: 'x/y', updatedAt: 9, deleted: false }, partitionOf('fresh', expected.bits), data);
    expect(index.counters()).toEqual({ files: expected.counters.files + 1, bytes: expected.counters.bytes + 3 });
    expect(index.clockHighWater()).toBe(version);
    await env.close();
  });

  it('overwrites, deletes and purges old entries consistently: digests stay the XOR of what each partition holds', async () => {
    const dir = await oldDataDir('writes');
    const env = new LmdbEnvironment(dir);
    const index = new LmdbEntryIndex(env);
    const part = (key: string) => partitionOf(key, expected.bits);
    const v = (n: number) => encodeVersion(1_800_000_000_000 + n, 0, 'new-node');
    const data = Buffer.from('replaced');
    const old = index.get('k/0')!;
    await index.apply({ ...old, version: v(1), sha256: sha(data), size: data.length }, part('k/0'), data);
    expect(index.getInline(old.sha256)).toBeUndefined(); // its last reference went: the inline bytes too
    await index.apply({ key: 'k/1', version: v(2), sha256: '', size: 0, contentType: '', updatedAt: 9, deleted: true }, part('k/1'));
    const dead = index.get('k/5')!;
    expect((await index.purge('k/5', part('k/5'), dead.version)).applied).toBe(true);
    const big = index.get('big')!;
    expect((await index.purge('big', part('big'), big.version)).freed).toEqual([big.sha256]); // a file: the caller removes it
    for (const p of index.partitions()) {
      const digest = Buffer.from(ZERO_DIGEST);
      const keys: string[] = [];
      for (const e of index.scanPartition(p)) {
        xorInto(digest, entryHash(e));
        keys.push(e.key);
      }
      expect(index.digest(p).toString('hex')).toBe(digest.toString('hex'));
      expect(keys).not.toContain('k/5');
      expect(keys).not.toContain('big');
    }
    expect(index.get('k/0')!.sha256).toBe(sha(data));
    expect(sha(index.getInline(sha(data))!)).toBe(sha(data));
    const live = [...index.scan('')].filter((e) => !e.deleted);
    expect(index.counters()).toEqual({ files: live.length, bytes: live.reduce((n, e) => n + e.size, 0) });
    await env.close();
  });
});
