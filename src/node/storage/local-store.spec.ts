import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Logger } from '@nestjs/common';
import type { NodeConfig } from '../../config/app-config.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { DiskBlobStore } from './disk-blob-store.js';
import { tombstone, type Entry } from './entry.js';
import { compareVersions, HybridLogicalClock } from './hlc.js';
import { LmdbEntryIndex } from './lmdb-entry-index.js';
import { LmdbEnvironment } from './lmdb-environment.js';
import { LocalStoreService } from './local-store.service.js';
import { drainStream as read } from './memory-store.js';
import { INLINE_MAX_BYTES } from './staging.js';
import { CorruptBlobError } from './verify-stream.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The disk implementations behind the facade: what a node runs. */
interface DiskStore extends LocalStoreService {
  blobStore: DiskBlobStore;
  close(): Promise<void>;
}

async function newStore(dataDir: string): Promise<DiskStore> {
  const config = { role: 'node', dataDir, partitionBits: 4 } as NodeConfig;
  const env = new LmdbEnvironment(dataDir);
  const blobStore = new DiskBlobStore(dataDir);
  const store = new LocalStoreService(config, new LmdbEntryIndex(env), blobStore, new HybridLogicalClock('n1'), new MetricsService());
  await store.onModuleInit();
  return Object.assign(store, { blobStore, close: () => env.close() });
}

async function put(store: LocalStoreService, key: string, data: Buffer, contentType = 'application/octet-stream', version = store.clock.now()): Promise<{ entry: Entry; applied: boolean }> {
  const staged = await store.stage(Readable.from([data]), { declaredLength: data.length });
  const entry: Entry = { key, version, sha256: staged.sha256, size: staged.size, contentType, updatedAt: Date.now(), deleted: false };
  const r = await store.commit(entry, staged);
  return { entry, applied: r.applied };
}

async function del(store: LocalStoreService, key: string): Promise<void> {
  expect((await store.commit(tombstone(key, store.clock.now(), Date.now()))).applied).toBe(true);
}

/** Every regular file under `dir` (relative paths). */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (d.isFile()) out.push(path.relative(dir, path.join(d.parentPath, d.name)));
  }
  return out.sort();
}

describe('LocalStoreService over the disk (LMDB and blob files)', () => {
  let dataDir: string;
  let store: DiskStore;
  const blobs = () => filesUnder(path.join(dataDir, 'blobs'));
  const tmp = () => readdir(path.join(dataDir, 'tmp'));

  beforeAll(() => Logger.overrideLogger(false));

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'shoal-store-'));
    store = await newStore(dataDir);
  });

  afterEach(async () => {
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  describe('blobs and reference counts', () => {
    it('stores equal content under two keys once; deleting one keeps it, deleting both frees it', async () => {
      const data = randomBytes(20 * 1024);
      const h = sha(data);
      await put(store, 'one', data);
      await put(store, 'two', data);
      expect(await blobs()).toEqual([path.join(h.slice(0, 2), h.slice(2, 4), h)]);
      expect(await tmp()).toEqual([]);
      expect(await store.stats()).toMatchObject({ files: 2, usedBytes: 2 * data.length });

      await del(store, 'one');
      expect(await blobs()).toHaveLength(1);
      expect((await read(store.openRead(store.get('two')!))).data.equals(data)).toBe(true);
      expect(await store.stats()).toMatchObject({ files: 1, usedBytes: data.length });

      await del(store, 'two');
      expect(await blobs()).toEqual([]);
      expect(await store.hasBlob(h)).toBe(false);
      expect(await store.stats()).toMatchObject({ files: 0, usedBytes: 0 });
    });

    it(`keeps blobs of at most ${INLINE_MAX_BYTES} bytes inline: no file, ever`, async () => {
      const sizes = [0, 1, 100, INLINE_MAX_BYTES];
      const datas = sizes.map((s) => randomBytes(s));
      for (const [i, d] of datas.entries()) await put(store, `small/${i}`, d);
      await put(store, 'small/again', datas[3]);
      expect(await blobs()).toEqual([]);
      expect(await tmp()).toEqual([]);
      for (const [i, d] of datas.entries()) {
        expect(await store.hasBlob(sha(d))).toBe(true);
        expect((await read(store.openRead(store.get(`small/${i}`)!))).data.equals(d)).toBe(true);
      }
      expect(await store.stats()).toMatchObject({ files: 5, usedBytes: sizes.reduce((a, b) => a + b, 0) + INLINE_MAX_BYTES });

      await put(store, 'big', randomBytes(INLINE_MAX_BYTES + 1));
      expect(await blobs()).toHaveLength(1);
    });

    it('an overwrite with other content frees the old blob', async () => {
      const a = randomBytes(100_000);
      const b = randomBytes(50_000);
      await put(store, 'k', a);
      await put(store, 'k', b);
      expect(await blobs()).toEqual([path.join(sha(b).slice(0, 2), sha(b).slice(2, 4), sha(b))]);
      expect(await store.stats()).toMatchObject({ files: 1, usedBytes: b.length });
    });

    it('a second upload of content already held leaves no temp file', async () => {
      const data = randomBytes(40_000);
      await put(store, 'a', data);
      await put(store, 'b', data);
      await put(store, 'a', data);
      expect(await tmp()).toEqual([]);
      expect(await blobs()).toHaveLength(1);
      expect(await store.stats()).toMatchObject({ files: 2, usedBytes: 2 * data.length });
    });

    it('a write that loses the version race leaves neither its blob nor a temp file behind', async () => {
      const winner = await put(store, 'k', randomBytes(30_000));
      const older = winner.entry.version.replace(/^[0-9a-f]{12}/, '000000000001');
      expect(compareVersions(older, winner.entry.version)).toBeLessThan(0);
      const loser = await put(store, 'k', randomBytes(30_000), 'x/y', older);
      expect(loser.applied).toBe(false);
      expect(store.get('k')).toEqual(winner.entry);
      expect(await blobs()).toHaveLength(1);
      expect(await store.hasBlob(loser.entry.sha256)).toBe(false);
      expect(await tmp()).toEqual([]);
    });

    it('keeps content type, size and bytes; serves ranges from files and inline blobs', async () => {
      const big = randomBytes(600_000);
      const small = randomBytes(1000);
      await put(store, 'big', big, 'image/png');
      await put(store, 'small', small, 'text/plain; charset=utf-8');
      expect(store.get('big')).toMatchObject({ size: big.length, sha256: sha(big), contentType: 'image/png', deleted: false });
      expect(store.get('small')).toMatchObject({ contentType: 'text/plain; charset=utf-8' });
      expect((await read(store.openRead(store.get('big')!, { start: 1000, end: 299_999 }))).data.equals(big.subarray(1000, 300_000))).toBe(true);
      expect((await read(store.openRead(store.get('small')!, { start: 10, end: 19 }))).data.equals(small.subarray(10, 20))).toBe(true);
      expect((await read(store.openBlob(sha(big), big.length))).data.equals(big)).toBe(true);
    });
  });

  describe('crash recovery at start-up', () => {
    it('removes a blob renamed into place whose metadata was never committed, and leftovers in tmp/', async () => {
      const kept = randomBytes(50_000);
      await put(store, 'kept', kept);
      const keptEntry = store.get('kept')!;
      const before = await store.stats();
      await store.close();

      // A crash between rename and commit: the blob is in place, no entry references it.
      const orphan = randomBytes(70_000);
      const h = sha(orphan);
      await mkdir(path.join(dataDir, 'blobs', h.slice(0, 2), h.slice(2, 4)), { recursive: true });
      await writeFile(path.join(dataDir, 'blobs', h.slice(0, 2), h.slice(2, 4), h), orphan);
      // A crash mid-upload: a partial temp file.
      await writeFile(path.join(dataDir, 'tmp', 'c0ffee-partial'), randomBytes(10_000));
      expect(await blobs()).toHaveLength(2);

      store = await newStore(dataDir);
      expect(await tmp()).toEqual([]);
      expect(await blobs()).toEqual([path.join(sha(kept).slice(0, 2), sha(kept).slice(2, 4), sha(kept))]);
      expect(await store.hasBlob(h)).toBe(false);
      expect(store.listLive('', undefined, 100).map((e) => e.key)).toEqual(['kept']);
      expect(store.get('kept')).toEqual(keptEntry);
      expect(await store.stats()).toMatchObject({ files: before.files, usedBytes: before.usedBytes });
      expect((await read(store.openRead(keptEntry))).data.equals(kept)).toBe(true);
    });

    it('removes a blob staged and placed by the store itself but never committed', async () => {
      const data = randomBytes(100_000);
      const staged = await store.stage(Readable.from([data]), {});
      await store.blobStore.place(staged);
      expect(await blobs()).toHaveLength(1);
      await store.close();
      store = await newStore(dataDir);
      expect(await blobs()).toEqual([]);
      expect(await tmp()).toEqual([]);
    });

    it('issues versions newer than any it committed before the restart', async () => {
      const { entry } = await put(store, 'k', Buffer.from('v'), 'text/plain', '7fffffffffff.000000.n1');
      await store.close();
      store = await newStore(dataDir);
      expect(compareVersions(store.clock.now(), entry.version)).toBeGreaterThan(0);
    });
  });

  describe('corrupt blobs', () => {
    it('a whole read of a corrupt blob fails before the last chunk and quarantines the blob', async () => {
      const data = randomBytes(1024 * 1024 + 5);
      const { entry } = await put(store, 'k', data);
      const file = path.join(dataDir, 'blobs', entry.sha256.slice(0, 2), entry.sha256.slice(2, 4), entry.sha256);
      const bad = await readFile(file);
      bad[bad.length - 1] ^= 1;
      await writeFile(file, bad);
      const seen: Entry[] = [];
      store.corrupted.subscribe((e) => seen.push(e));

      const r = await read(store.openRead(entry));
      expect(r.error).toBeInstanceOf(CorruptBlobError);
      expect(r.data.length).toBeLessThan(data.length);
      await new Promise((resolve) => setTimeout(resolve, 50)); // quarantining is asynchronous
      expect(seen.map((e) => e.key)).toEqual(['k']);
      expect(await store.hasBlob(entry.sha256)).toBe(false);
      expect(await filesUnder(path.join(dataDir, 'quarantine'))).toHaveLength(1);
    });
  });

  describe('listLive', () => {
    const KEYS = ['a', 'a/1', 'a/2', 'a/3', 'a/30', 'a/4', 'a0', 'a/5/x', 'b', 'b/1', 'b/2', 'c/ü', 'c/🐟', 'd'];
    const DELETED = ['a/2', 'a/30', 'b/1', 'd'];

    beforeEach(async () => {
      for (const k of KEYS) await put(store, k, Buffer.from(k));
      for (const k of DELETED) await del(store, k);
    });

    /** Walks every page with `after` = the last key of the previous page. */
    function walk(prefix: string, limit: number): string[][] {
      const pages: string[][] = [];
      let after: string | undefined;
      for (let i = 0; i < 100; i++) {
        const page = store.listLive(prefix, after, limit).map((e) => e.key);
        if (page.length === 0) return pages;
        pages.push(page);
        after = page[page.length - 1];
      }
      throw new Error('pagination did not end');
    }

    it.each([
      ['', 1],
      ['', 3],
      ['', 100],
      ['a', 2],
      ['a/', 2],
      ['a/3', 1],
      ['b', 5],
      ['c/', 1],
      ['zz', 3],
    ])('prefix %j, limit %i: every live key with the prefix, once, in key order', (prefix, limit) => {
      const expected = KEYS.filter((k) => k.startsWith(prefix) && !DELETED.includes(k)).sort();
      const pages = walk(prefix, limit);
      expect(pages.flat()).toEqual(expected);
      for (const p of pages) expect(p.length).toBeLessThanOrEqual(limit);
      for (const p of pages.slice(0, -1)) expect(p).toHaveLength(limit);
    });

    it('starts at the prefix when the cursor sorts before it, and returns nothing past it', () => {
      expect(store.listLive('b', 'a/1', 10).map((e) => e.key)).toEqual(['b', 'b/2']);
      expect(store.listLive('a/', 'b', 10)).toEqual([]);
      expect(store.listLive('a/', 'a/3', 10).map((e) => e.key)).toEqual(['a/4', 'a/5/x']);
    });

    it('compares the cursor with the prefix in the store\'s key order (UTF-8), not in JS string order', async () => {
      for (const k of ['p/\ue000/1', 'p/\ue000/2', 'p/\u{1f41f}']) await put(store, k, Buffer.from(k));
      expect(store.listLive('p/', undefined, 10).map((e) => e.key)).toEqual(['p/\ue000/1', 'p/\ue000/2', 'p/\u{1f41f}']);
      expect(store.listLive('p/', 'p/\ue000/1', 10).map((e) => e.key)).toEqual(['p/\ue000/2', 'p/\u{1f41f}']);
      // 'p/🐟' sorts after every 'p/\ue000…' key: nothing of that prefix is left after it.
      expect(store.listLive('p/\ue000', 'p/\u{1f41f}', 10)).toEqual([]);
      expect(store.scanPage('p/\ue000', 'p/\u{1f41f}', 10)).toEqual({ entries: [], truncated: false });
    });

    it('scanPage includes tombstones and says when it was cut short', () => {
      const all = store.scanPage('', undefined, 1000);
      expect(all.truncated).toBe(false);
      expect(all.entries.map((e) => e.key)).toEqual([...KEYS].sort());
      expect(all.entries.filter((e) => e.deleted).map((e) => e.key)).toEqual([...DELETED].sort());
      const first = store.scanPage('a/', undefined, 3);
      expect(first).toMatchObject({ truncated: true });
      expect(first.entries.map((e) => e.key)).toEqual(['a/1', 'a/2', 'a/3']);
      const exact = store.scanPage('b', undefined, 3);
      expect(exact.truncated).toBe(false);
      expect(exact.entries.map((e) => e.key)).toEqual(['b', 'b/1', 'b/2']);
    });
  });
});
