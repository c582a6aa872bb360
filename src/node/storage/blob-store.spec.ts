import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { BlobStore } from './blob-store.js';
import { DiskBlobStore } from './disk-blob-store.js';
import { MemoryBlobStore } from './memory-blob-store.js';
import { INLINE_MAX_BYTES } from './staging.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const BIG = INLINE_MAX_BYTES + 1;

async function bytes(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function listed(store: BlobStore): Promise<string[]> {
  const out: string[] = [];
  for await (const h of store.list()) out.push(h);
  return out;
}

/**
 * One table of cases for both blob stores. `staging()` counts uploads staged and neither placed nor discarded (tmp/
 * files for the disk), so a leak in either shows. The disk one works in a temp dir: it is the disk's own spec.
 */
interface Impl {
  make(): Promise<{ store: BlobStore; staging(): Promise<number>; quarantined(): Promise<number>; done(): Promise<void> }>;
}

const disk: Impl = {
  async make() {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'shoal-blobs-'));
    const store = new DiskBlobStore(dir);
    return {
      store,
      staging: async () => (await readdir(store.tmpDir)).length,
      quarantined: async () => (await readdir(store.quarantineDir)).length,
      done: () => rm(dir, { recursive: true, force: true }),
    };
  },
};

const memory: Impl = {
  async make() {
    const store = new MemoryBlobStore();
    return { store, staging: async () => store.stagedCount, quarantined: async () => store.quarantined.size, done: async () => undefined };
  },
};

describe.each([
  ['disk', disk],
  ['memory', memory],
])('BlobStore (%s)', (_name, impl) => {
  let t: Awaited<ReturnType<Impl['make']>>;
  let store: BlobStore;

  beforeEach(async () => {
    t = await impl.make();
    store = t.store;
    await store.init();
  });

  afterEach(() => t.done());

  it(`returns a blob of at most ${INLINE_MAX_BYTES} bytes as data, staging nothing`, async () => {
    const data = randomBytes(INLINE_MAX_BYTES);
    const staged = await store.stage(Readable.from([data]), { declaredLength: data.length });
    expect(staged).toEqual({ sha256: sha(data), size: data.length, data });
    expect(await t.staging()).toBe(0);
  });

  it('stages a larger blob, invisible until placed, then serves it whole and by range', async () => {
    const data = randomBytes(3 * BIG);
    const staged = await store.stage(Readable.from([data.subarray(0, BIG), data.subarray(BIG)]), { expectedSha256: sha(data).toUpperCase() });
    expect(staged).toMatchObject({ sha256: sha(data), size: data.length });
    expect(staged.data).toBeUndefined();
    expect(await store.has(staged.sha256)).toBe(false);
    expect(await t.staging()).toBe(1);
    await store.place(staged);
    expect(await t.staging()).toBe(0);
    expect(await store.has(staged.sha256)).toBe(true);
    expect(await store.size(staged.sha256)).toBe(data.length);
    expect((await bytes(store.open(staged.sha256))).equals(data)).toBe(true);
    expect((await bytes(store.open(staged.sha256, { start: 10, end: BIG }))).equals(data.subarray(10, BIG + 1))).toBe(true);
    expect(await listed(store)).toEqual([staged.sha256]);
  });

  it('placing content already held keeps the first copy and drops the staged one', async () => {
    const data = randomBytes(BIG);
    await store.place(await store.stage(Readable.from([data]), {}));
    await store.place(await store.stage(Readable.from([data]), {}));
    expect(await listed(store)).toEqual([sha(data)]);
    expect(await t.staging()).toBe(0);
  });

  it('refuses a mismatching checksum or a short body and keeps nothing', async () => {
    const data = randomBytes(2 * BIG);
    await expect(store.stage(Readable.from([data]), { expectedSha256: sha(Buffer.from('other')) })).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH' });
    await expect(store.stage(Readable.from([data]), { declaredLength: data.length + 1 })).rejects.toMatchObject({ code: 'INCOMPLETE_BODY' });
    await expect(store.stage(Readable.from([data]), { maxBytes: BIG })).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    expect(await t.staging()).toBe(0);
    expect(await listed(store)).toEqual([]);
  });

  it('discard drops a staged upload; init empties staging as a restart after a crash does', async () => {
    const a = await store.stage(Readable.from([randomBytes(BIG)]), {});
    await store.stage(Readable.from([randomBytes(BIG)]), {});
    await store.discard(a);
    expect(await t.staging()).toBe(1);
    await store.init();
    expect(await t.staging()).toBe(0);
  });

  it('a staged reader opened before place still reads the bytes after it', async () => {
    const data = randomBytes(2 * BIG);
    const staged = await store.stage(Readable.from([data]), {});
    const reader = await store.openStaged(staged);
    await store.place(staged);
    const [one, two] = await Promise.all([bytes(reader.stream()), bytes(reader.stream())]);
    await reader.close();
    expect(one.equals(data)).toBe(true);
    expect(two.equals(data)).toBe(true);
  });

  it('removes (a missing blob is no error) and quarantines: neither is served any more', async () => {
    const a = randomBytes(BIG);
    const b = randomBytes(BIG + 1);
    await store.place(await store.stage(Readable.from([a]), {}));
    await store.place(await store.stage(Readable.from([b]), {}));
    await store.remove(sha(a));
    await store.remove(sha(a));
    await store.quarantine(sha(b));
    await store.quarantine(sha(b));
    expect(await store.has(sha(a))).toBe(false);
    expect(await store.has(sha(b))).toBe(false);
    expect(await t.quarantined()).toBe(1);
    expect(await listed(store)).toEqual([]);
    await expect(bytes(store.open(sha(b)))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await store.size(sha(b))).toBeUndefined();
  });

  it('keeps a copy aside for the operator without taking the blob away', async () => {
    const data = randomBytes(BIG);
    await store.place(await store.stage(Readable.from([data]), {}));
    await store.keepCopy(sha(data));
    await store.keepCopy(sha(Buffer.from('inline')), Buffer.from('inline'));
    expect(await store.has(sha(data))).toBe(true);
  });

  it('lists every blob held, in hash order', async () => {
    const hashes: string[] = [];
    for (let i = 0; i < 5; i++) {
      const staged = await store.stage(Readable.from([randomBytes(BIG)]), {});
      await store.place(staged);
      hashes.push(staged.sha256);
    }
    expect(await listed(store)).toEqual(hashes.sort());
  });
});
