import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { Logger } from '@nestjs/common';
import { tombstone, type Entry } from './entry.js';
import { compareVersions, encodeVersion } from './hlc.js';
import type { LocalStoreService } from './local-store.service.js';
import { createMemoryStorage, drainStream as read, type MemoryStorage } from './memory-store.js';
import { INLINE_MAX_BYTES } from './staging.js';
import { CorruptBlobError } from './verify-stream.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const BIG = INLINE_MAX_BYTES + 1;

async function put(store: LocalStoreService, key: string, data: Buffer, version = store.clock.now()): Promise<{ entry: Entry; applied: boolean; freed: string[] }> {
  const staged = await store.stage(Readable.from([data]), { declaredLength: data.length });
  const entry: Entry = { key, version, sha256: staged.sha256, size: staged.size, contentType: 'application/octet-stream', updatedAt: 1, deleted: false };
  const r = await store.commit(entry, staged);
  return { entry, applied: r.applied, freed: r.freed };
}

const held = async (s: MemoryStorage) => {
  const out: string[] = [];
  for await (const h of s.blobs.list()) out.push(h);
  return out;
};

/** The facade's own rules (last writer wins, dedupe, freeing, corruption, purge) over the memory ports. */
describe('LocalStoreService over the memory ports', () => {
  let s: MemoryStorage;
  let store: LocalStoreService;

  beforeAll(() => Logger.overrideLogger(false));

  beforeEach(async () => {
    s = await createMemoryStorage();
    store = s.store;
  });

  it('commits by last writer wins: a newer version replaces, an older or equal one is refused and changes nothing', async () => {
    const first = await put(store, 'k', Buffer.from('one'));
    const second = await put(store, 'k', Buffer.from('two'));
    expect(second.applied).toBe(true);
    const older = await put(store, 'k', Buffer.from('old'), first.entry.version);
    expect(older.applied).toBe(false);
    expect(store.get('k')).toEqual(second.entry);
    const again = await store.commit(second.entry);
    expect(again).toMatchObject({ applied: false, previous: second.entry });
    expect((await read(store.openRead(store.get('k')!))).data.toString()).toBe('two');
    // The inline bytes of the replaced version went with its last reference.
    expect(await store.hasBlob(sha(Buffer.from('one')))).toBe(false);
  });

  it('a newer tombstone hides a file; an older live version does not resurrect it', async () => {
    const { entry } = await put(store, 'k', randomBytes(BIG));
    await store.commit(tombstone('k', store.clock.now(), 2));
    expect(store.get('k')?.deleted).toBe(true);
    expect(await held(s)).toEqual([]);
    expect((await store.commit(entry)).applied).toBe(false);
    expect(store.get('k')?.deleted).toBe(true);
  });

  it('stores equal content once, counts its references and frees it only with the last one', async () => {
    const data = randomBytes(BIG + 100);
    const h = sha(data);
    await put(store, 'a', data);
    await put(store, 'b', data);
    expect(await held(s)).toEqual([h]);
    expect(s.blobs.stagedCount).toBe(0); // the second upload's staged copy was dropped, not left behind
    expect(s.index.refCount(h)).toBe(2);
    expect(await store.stats()).toMatchObject({ files: 2, usedBytes: 2 * data.length });

    await store.commit(tombstone('a', store.clock.now(), 2));
    expect(await held(s)).toEqual([h]);
    expect((await read(store.openRead(store.get('b')!))).data.equals(data)).toBe(true);

    await store.commit(tombstone('b', store.clock.now(), 3));
    expect(await held(s)).toEqual([]);
    expect(await store.hasBlob(h)).toBe(false);
    expect(await store.stats()).toMatchObject({ files: 0, usedBytes: 0 });
  });

  it(`keeps blobs of at most ${INLINE_MAX_BYTES} bytes in the index, never in the blob store`, async () => {
    const small = randomBytes(INLINE_MAX_BYTES);
    await put(store, 'small', small);
    expect(await held(s)).toEqual([]);
    expect(s.index.hasInline(sha(small))).toBe(true);
    expect(await store.blobSize(sha(small))).toBe(INLINE_MAX_BYTES);
    expect((await read(store.openRead(store.get('small')!, { start: 5, end: 9 }))).data.equals(small.subarray(5, 10))).toBe(true);
    await put(store, 'big', randomBytes(BIG));
    expect(await held(s)).toHaveLength(1);
  });

  it('a write that loses the version race leaves neither its blob nor a staged copy behind', async () => {
    const winner = await put(store, 'k', randomBytes(BIG));
    const loser = await put(store, 'k', randomBytes(BIG), encodeVersion(1, 0, 'n0'));
    expect(compareVersions(loser.entry.version, winner.entry.version)).toBeLessThan(0);
    expect(loser.applied).toBe(false);
    expect(await store.hasBlob(loser.entry.sha256)).toBe(false);
    expect(await held(s)).toEqual([winner.entry.sha256]);
    expect(s.blobs.stagedCount).toBe(0);
  });

  it('a delete racing a write of the same content never frees the blob the write references', async () => {
    const data = randomBytes(BIG);
    await put(store, 'a', data);
    const staged = await store.stage(Readable.from([data]), {});
    const entry: Entry = { key: 'b', version: store.clock.now(), sha256: staged.sha256, size: staged.size, contentType: 'x/y', updatedAt: 1, deleted: false };
    await Promise.all([store.commit(tombstone('a', store.clock.now(), 2)), store.commit(entry, staged)]);
    expect(await store.hasBlob(sha(data))).toBe(true);
    expect((await read(store.openRead(store.get('b')!))).data.equals(data)).toBe(true);
  });

  it('purges only at the expected version, frees the blob and leaves no tombstone', async () => {
    const { entry } = await put(store, 'k', randomBytes(BIG));
    expect((await store.purge({ ...entry, version: encodeVersion(1, 0, 'n0') })).applied).toBe(false);
    expect(store.get('k')).toEqual(entry);
    expect((await store.purge(entry)).applied).toBe(true);
    expect(store.get('k')).toBeUndefined();
    expect(await held(s)).toEqual([]);
    // The partition's digest is back to all zeros: it counts as holding nothing.
    expect(store.holdings()).toEqual({ partitions: 0, entries: 0, bytes: 0 });
  });

  it('a whole read of a corrupt blob is cut before its end, quarantines the blob and emits the entry', async () => {
    const data = randomBytes(3 * BIG);
    const { entry } = await put(store, 'k', data);
    const bad = Buffer.from(data);
    bad[bad.length - 1] ^= 1;
    s.blobs.tamper(entry.sha256, bad);
    const seen: Entry[] = [];
    store.corrupted.subscribe((e) => seen.push(e));

    const r = await read(store.openRead(entry));
    expect(r.error).toBeInstanceOf(CorruptBlobError);
    expect(r.data.length).toBeLessThan(data.length);
    await new Promise((resolve) => setImmediate(resolve)); // quarantining is asynchronous
    expect(seen.map((e) => e.key)).toEqual(['k']);
    expect(await store.hasBlob(entry.sha256)).toBe(false);
    expect(s.blobs.quarantined.get(entry.sha256)?.equals(bad)).toBe(true);
    // A range read is not verified (it cannot be) and so raises nothing.
    s.blobs.tamper(entry.sha256, bad);
    expect((await read(store.openRead(entry, { start: 0, end: 9 }))).error).toBeUndefined();
    expect(seen).toHaveLength(1);
  });

  it('restores a re-fetched blob after corruption, inline or not', async () => {
    const data = randomBytes(BIG);
    const { entry } = await put(store, 'k', data);
    await s.blobs.quarantine(entry.sha256);
    expect(await store.hasBlob(entry.sha256)).toBe(false);
    await store.restoreBlob(await store.stage(Readable.from([data]), { expectedSha256: entry.sha256 }));
    expect((await read(store.openRead(entry))).data.equals(data)).toBe(true);
  });

  it('at start-up removes blobs no entry references, and moves its clock past every version it holds', async () => {
    const { entry } = await put(store, 'kept', randomBytes(BIG), encodeVersion(0x7fffffffffff, 3, 'n2'));
    const orphan = randomBytes(BIG);
    s.blobs.putOrphan(sha(orphan), orphan);
    await s.blobs.stage(Readable.from([randomBytes(BIG)]), {}); // an upload in flight when the process died
    const restarted = await createMemoryStorage({ index: s.index, blobs: s.blobs });
    expect(await held(restarted)).toEqual([entry.sha256]);
    expect(restarted.blobs.stagedCount).toBe(0);
    expect(compareVersions(restarted.store.clock.now(), entry.version)).toBeGreaterThan(0);
  });

  it('lists live entries and pages through all of them in key order', async () => {
    for (const k of ['b', 'a/2', 'a/1', 'a/\u{1f41f}', 'a/\ue000', 'c']) await put(store, k, Buffer.from(k));
    await store.commit(tombstone('a/2', store.clock.now(), 2));
    expect(store.listLive('a/', undefined, 10).map((e) => e.key)).toEqual(['a/1', 'a/\ue000', 'a/\u{1f41f}']);
    expect(store.listLive('a/', 'a/1', 1).map((e) => e.key)).toEqual(['a/\ue000']);
    const page = store.scanPage('', undefined, 3);
    expect(page).toMatchObject({ truncated: true });
    expect(page.entries.map((e) => e.key)).toEqual(['a/1', 'a/2', 'a/\ue000']);
  });
});
