import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { encodeVersion } from './hlc.js';
import { tombstone, type Entry } from './entry.js';
import { LmdbEntryIndex } from './lmdb-entry-index.js';
import { LmdbEnvironment } from './lmdb-environment.js';
import { PackStore, RECORD_HEADER_BYTES } from './pack-store.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'shoal-packs-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('PackStore', () => {
  it('appends concurrent records durably in batches and reads each back, also after a restart', async () => {
    const dir = path.join(root, 'packs');
    const packs = new PackStore(dir);
    const bodies = Array.from({ length: 300 }, (_, i) => randomBytes(i % 7 === 0 ? 0 : 1 + ((i * 97) % 16384)));
    const appended = await Promise.all(bodies.map((b) => packs.append(sha(b), b)));
    appended.forEach((a, i) => expect(packs.read(a.at).equals(bodies[i])).toBe(true));
    expect(packs.pending(packs.activeSegment)).toBe(true);
    for (const a of appended) a.release();
    expect(packs.pending(packs.activeSegment)).toBe(false);
    const first = packs.activeSegment;
    packs.close();

    const again = new PackStore(dir);
    expect(again.activeSegment).toBe(first + 1); // a restart appends to a new segment
    expect(again.sealed().map((s) => s.segment)).toEqual([first]);
    appended.forEach((a, i) => expect(again.read(a.at).equals(bodies[i])).toBe(true));
    const { records, done } = await again.records(first, 0, Infinity);
    expect(done).toBe(true);
    expect(records.map((r) => r.sha256)).toEqual(bodies.map(sha));
    again.close();
  });

  it('stops a scan at a record a crash cut off, and a restart never appends after it', async () => {
    const dir = path.join(root, 'packs');
    const packs = new PackStore(dir);
    const body = randomBytes(1000);
    const a = await packs.append(sha(body), body);
    a.release();
    const segment = packs.activeSegment;
    packs.close();
    const file = path.join(dir, readdirSync(dir)[0]);
    // half a record: a header that promises more bytes than follow
    const torn = Buffer.alloc(RECORD_HEADER_BYTES + 10);
    torn.writeUInt32BE(0x53484b31, 0);
    torn.writeUInt32BE(5000, 4);
    appendFileSync(file, torn);

    const again = new PackStore(dir);
    const { records, next, done } = await again.records(segment, 0, Infinity);
    expect(records).toHaveLength(1);
    expect(done).toBe(true);
    expect(next).toBe(RECORD_HEADER_BYTES + 1000);
    const b = await again.append(sha(body), body);
    expect(b.at[0]).toBe(segment + 1);
    b.release();
    again.close();
  });

  it('refuses a read of a segment it does not hold', () => {
    const packs = new PackStore(path.join(root, 'packs'));
    expect(() => packs.read([99, 0, 10])).toThrow(/not held/);
    packs.close();
  });
});

describe('LmdbEntryIndex inline blobs in packs', () => {
  let n = 0;
  const live = (key: string, body: Buffer): Entry => ({ key, version: encodeVersion(1_000 + n, n++, 'n1'), sha256: sha(body), size: body.length, contentType: 'application/octet-stream', updatedAt: 1, deleted: false });
  const open = (dir: string) => {
    const env = new LmdbEnvironment(dir);
    return { env, index: new LmdbEntryIndex(env) };
  };
  const packFiles = (dir: string) => readdirSync(path.join(dir, 'packs')).sort();

  it('keeps small files out of LMDB: the metadata file grows by far less than the bytes written', async () => {
    const dir = path.join(root, 'node');
    const { env, index } = open(dir);
    const before = statSync(path.join(dir, 'meta', 'data.mdb')).size;
    const bodies = Array.from({ length: 1000 }, () => randomBytes(4096));
    await Promise.all(bodies.map((b, i) => index.apply(live(`k${i}`, b), i % 4, b)));
    const grown = statSync(path.join(dir, 'meta', 'data.mdb')).size - before;
    expect(grown).toBeLessThan(1024 * 1024); // 4 MiB of bodies; ≈ 8 MiB when each took two overflow pages
    bodies.forEach((b) => expect(index.getInline(sha(b))?.equals(b)).toBe(true));
    index.close();
    await env.close();
  });

  it('compaction copies what is still referenced out of a segment, deletes it, and every read stays right throughout', async () => {
    const dir = path.join(root, 'node');
    let { env, index } = open(dir);
    const bodies = Array.from({ length: 200 }, () => randomBytes(2048 + Math.floor(Math.random() * 8192)));
    const entries = bodies.map((b, i) => live(`k${i}`, b));
    await Promise.all(entries.map((e, i) => index.apply(e, 0, bodies[i])));
    // delete 100, overwrite 50 with new bytes, keep 50; a shared body (two keys, one copy) survives one delete
    await Promise.all(entries.slice(0, 100).map((e) => index.apply(tombstone(e.key, encodeVersion(5_000 + n, n++, 'n1'), 1), 0)));
    const fresh = bodies.slice(100, 150).map(() => randomBytes(3000));
    await Promise.all(fresh.map((b, i) => index.apply(live(`k${100 + i}`, b), 0, b)));
    const shared = bodies[199];
    await index.apply(live('twin', shared), 0, shared);
    await index.apply(tombstone('k199', encodeVersion(9_000 + n, n++, 'n1'), 1), 0);
    const expected = new Map<string, Buffer>([...bodies.slice(150, 199), ...fresh, shared].map((b) => [sha(b), b]));
    const before = packFiles(dir);
    const liveBytes = [...expected.values()].reduce((n, b) => n + RECORD_HEADER_BYTES + b.length, 0);
    expect(index.packUsage()).toEqual({ segments: 1, bytes: expect.any(Number), liveBytes });
    expect(index.packUsage().bytes).toBeGreaterThan(2 * liveBytes); // more than half of it garbage
    index.close();
    await env.close();

    ({ env, index } = open(dir)); // the segment written so far is sealed (and small: merged away)
    let steps = 0;
    let moved = 0;
    for (;;) {
      const step = await index.compact(16 * 1024);
      moved += step.movedBytes;
      for (const [s, b] of expected) expect(index.getInline(s)?.equals(b)).toBe(true);
      if (!step.more) break;
      expect(++steps).toBeLessThan(1000);
    }
    expect(moved).toBe([...expected.values()].reduce((t, b) => t + b.length, 0));
    expect(before.every((f) => !packFiles(dir).includes(f))).toBe(true); // the old segment is gone
    expect(index.packUsage()).toEqual({ segments: 1, bytes: liveBytes, liveBytes }); // and no garbage is left
    for (const b of bodies.slice(0, 100)) expect(index.getInline(sha(b))).toBeUndefined();
    expect(index.refCount(sha(shared))).toBe(1);
    index.close();
    await env.close();

    ({ env, index } = open(dir)); // and after another restart
    for (const [s, b] of expected) expect(index.getInline(s)?.equals(b)).toBe(true);
    index.close();
    await env.close();
  });

  it('writes, overwrites and deletes racing compaction and restarts leave every live file readable and the live count exact', async () => {
    const dir = path.join(root, 'node');
    let { env, index } = open(dir);
    const contents = Array.from({ length: 30 }, () => randomBytes(500 + Math.floor(Math.random() * 4000))); // shared bytes too
    const held = new Map<string, Buffer | undefined>();
    let version = 100_000;
    const step = async (i: number) => {
      const key = `k${i % 60}`;
      if (i % 5 === 4) {
        await index.apply(tombstone(key, encodeVersion(version++, 0, 'n1'), 1), 0);
        held.set(key, undefined);
      } else {
        const body = contents[(i * 7) % contents.length];
        await index.apply({ ...live(key, body), version: encodeVersion(version++, 0, 'n1') }, 0, body);
        held.set(key, body);
      }
    };
    let moved = 0;
    let removed = 0;
    for (let round = 0; round < 4; round++) {
      // writes in flight while compaction steps run, in the same batches
      let i = round * 400;
      const writing = (async () => {
        for (const end = i + 400; i < end; i += 8) await Promise.all(Array.from({ length: 8 }, (_, j) => step(i + j)));
      })();
      for (let k = 0; k < 40; k++) {
        const c = await index.compact(8 * 1024);
        moved += c.movedBytes;
        removed += c.removedSegments;
      }
      await writing;
      index.close();
      await env.close();
      ({ env, index } = open(dir)); // a restart seals the segment: the next round compacts it while writing
    }
    expect(moved).toBeGreaterThan(0); // compaction did run between the writes
    expect(removed).toBeGreaterThan(0);
    for (let k = 0; (await index.compact(1 << 20)).more; k++) expect(k).toBeLessThan(50);
    const shas = new Map<string, number>();
    for (const [key, body] of held) {
      const e = index.get(key)!;
      expect(e.deleted).toBe(body === undefined);
      if (!body) continue;
      expect(index.getInline(e.sha256)?.equals(body)).toBe(true);
      shas.set(e.sha256, (shas.get(e.sha256) ?? 0) + 1);
    }
    for (const [s, n] of shas) expect(index.refCount(s)).toBe(n);
    const liveBytes = [...shas.keys()].reduce((n, s) => n + RECORD_HEADER_BYTES + index.getInline(s)!.length, 0);
    expect(index.packUsage().liveBytes).toBe(liveBytes);
    expect(index.packUsage().bytes).toBeLessThan(2 * liveBytes + 64 * 1024); // what was not compacted is mostly live
    index.close();
    await env.close();
  });

  it('a record freed while compaction copies it is not brought back', async () => {
    const dir = path.join(root, 'node');
    let { env, index } = open(dir);
    const kept = randomBytes(3000);
    const doomed = randomBytes(3000);
    await index.apply(live('kept', kept), 0, kept);
    await index.apply(live('doomed', doomed), 0, doomed);
    index.close();
    await env.close();
    ({ env, index } = open(dir)); // the segment holding both is sealed (small): compaction will copy both
    // The delete's transaction is queued while compaction appends its copies, before compaction's own transaction.
    const packs = (index as unknown as { packs: { append: (sha: string, data: Buffer) => Promise<unknown> } }).packs;
    const append = packs.append.bind(packs);
    let deleting: Promise<unknown> | undefined;
    packs.append = (sha, data) => {
      deleting ??= index.apply(tombstone('doomed', encodeVersion(900_000, 0, 'n1'), 1), 0);
      return append(sha, data);
    };
    const step = await index.compact(1 << 20);
    await deleting;
    expect(step.movedBytes).toBe(kept.length);
    expect(index.getInline(sha(doomed))).toBeUndefined();
    expect(index.getInline(sha(kept))?.equals(kept)).toBe(true);
    expect(index.packUsage().liveBytes).toBe(RECORD_HEADER_BYTES + kept.length);
    index.close();
    await env.close();
  });

  it('a write whose bytes a concurrent delete freed after they were judged held appends them after all', async () => {
    const dir = path.join(root, 'node');
    const { env, index } = open(dir);
    const body = randomBytes(3000);
    await index.apply(live('a', body), 0, body);
    // both transactions are queued in this order, in one batch: the delete frees the bytes 'b' found held
    const deleting = index.apply(tombstone('a', encodeVersion(50_000, 0, 'n1'), 1), 0);
    const writing = index.apply(live('b', body), 0, body);
    await Promise.all([deleting, writing]);
    expect(index.refCount(sha(body))).toBe(1);
    expect(index.getInline(sha(body))?.equals(body)).toBe(true);
    index.close();
    await env.close();
  });

  it('an unreadable pack reads as a copy that fails its check; a rotten record too, and putInline puts fresh bytes back', async () => {
    const dir = path.join(root, 'node');
    let { env, index } = open(dir);
    const body = randomBytes(5000);
    await index.apply(live('k', body), 0, body);
    index.close(); // every pack file closed: reads fail as an I/O error would
    const unreadable = index.getInline(sha(body));
    expect(unreadable).toBeDefined();
    expect(sha(unreadable!)).not.toBe(sha(body));
    await env.close();

    const file = path.join(dir, 'packs', packFiles(dir)[0]);
    const bytes = readFileSync(file);
    bytes[RECORD_HEADER_BYTES + 100] ^= 0xff; // bit rot inside the record
    writeFileSync(file, bytes);
    ({ env, index } = open(dir));
    expect(sha(index.getInline(sha(body))!)).not.toBe(sha(body));
    await index.putInline(sha(body), body); // what repair does with the bytes re-fetched from another owner
    expect(index.getInline(sha(body))?.equals(body)).toBe(true);
    expect(index.packUsage().liveBytes).toBe(RECORD_HEADER_BYTES + body.length); // one record counted, the new one
    index.close();
    await env.close();
  });

  it('a record compaction cannot move does not hold it: the other segments are compacted and it goes idle', async () => {
    const dir = path.join(root, 'node');
    let { env, index } = open(dir);
    const rotten = randomBytes(3000);
    await index.apply(live('rotten', rotten), 0, rotten);
    index.close();
    await env.close();
    const file = path.join(dir, 'packs', packFiles(dir)[0]);
    const bytes = readFileSync(file);
    bytes[RECORD_HEADER_BYTES + 7] ^= 0xff;
    writeFileSync(file, bytes);
    ({ env, index } = open(dir)); // segment 1: one live, rotten record
    const bodies = Array.from({ length: 20 }, () => randomBytes(3000));
    await Promise.all(bodies.map((b, i) => index.apply(live(`g${i}`, b), 0, b)));
    await Promise.all(bodies.slice(0, 15).map((_, i) => index.apply(tombstone(`g${i}`, encodeVersion(800_000 + i, 0, 'n1'), 1), 0)));
    index.close();
    await env.close();
    ({ env, index } = open(dir)); // segment 2: mostly garbage
    let steps = 0;
    while ((await index.compact(1 << 20)).more) expect(++steps).toBeLessThan(10);
    expect(packFiles(dir)).toHaveLength(2); // segment 1 kept (its record waits for repair), segment 2 compacted away
    for (const [i, b] of bodies.entries()) {
      if (i >= 15) expect(index.getInline(sha(b))?.equals(b)).toBe(true);
    }
    await index.putInline(sha(rotten), rotten); // repaired: segment 1 is garbage now and goes
    while ((await index.compact(1 << 20)).more) expect(++steps).toBeLessThan(20);
    expect(packFiles(dir)).toHaveLength(1);
    expect(index.getInline(sha(rotten))?.equals(rotten)).toBe(true);
    index.close();
    await env.close();
  });
});
