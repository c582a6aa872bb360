import { ShoalError } from '../../common/errors.js';
import { unreachable } from '../peer/fake-peer-client.js';
import { tombstone } from '../storage/entry.js';
import { T0, bytes, cluster, counter, entryOf, hold, readAll, sha, versionAt as v } from './replication.fixture.js';

describe('ReadCoordinatorService (N=3, R=2)', () => {
  it('takes the newest version among the owners that answered, and names the owners that hold it', async () => {
    const c = await cluster({ r: 3 });
    const old = bytes(100, 1);
    const fresh = bytes(100, 2);
    await hold(c.local.store, entryOf('k', old, v(1)), old);
    await c.peer.a.hold(entryOf('k', fresh, v(2)), fresh);
    await c.peer.b.hold(entryOf('k', old, v(1)), old);
    const { entry, holders } = await c.reads.locate('k');
    expect(entry?.version).toBe(v(2));
    expect(holders.map((h) => h.id)).toEqual(['a']);
  });

  it('counts a tombstone as a version: a newer delete hides an older file', async () => {
    const c = await cluster({ r: 3 });
    const data = bytes(10);
    await hold(c.local.store, entryOf('k', data, v(1)), data);
    await c.peer.a.hold(tombstone('k', v(2), T0));
    const { entry } = await c.reads.locate('k');
    expect(entry).toMatchObject({ deleted: true, version: v(2) });
  });

  it('needs only R answers: with one owner unreachable it still answers', async () => {
    const c = await cluster();
    c.peer.b.down = unreachable('b');
    const data = bytes(10);
    await c.peer.a.hold(entryOf('k', data, v(1)), data);
    expect((await c.reads.locate('k')).entry?.version).toBe(v(1));
  });

  it('answers 503 INSUFFICIENT_REPLICAS when fewer than R owners answer', async () => {
    const c = await cluster();
    c.peer.a.down = unreachable('a');
    c.peer.b.down = unreachable('b');
    const err = await c.reads.locate('k').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShoalError);
    expect(err).toMatchObject({ code: 'INSUFFICIENT_REPLICAS', headers: { 'Retry-After': '2' } });
  });

  it('does not count its own answer while recovering (it may hold deletes it missed)', async () => {
    const c = await cluster({ r: 2 });
    const data = bytes(10);
    await hold(c.local.store, entryOf('k', data, v(5)), data);
    c.state.set('recovering');
    const { entry, holders } = await c.reads.locate('k');
    expect(entry).toBeUndefined();
    expect(holders).toEqual([]);
    expect(c.peer.a.calls).toContain('versions k');
    expect(c.peer.b.calls).toContain('versions k');
  });

  it('streams a version it holds from its own store, without asking a peer for bytes', async () => {
    const c = await cluster();
    const data = bytes(50_000);
    await hold(c.local.store, entryOf('k', data, v(1)), data);
    await c.peer.a.hold(entryOf('k', data, v(1)), data);
    const { entry, holders } = await c.reads.locate('k');
    expect(sha(await readAll(await c.reads.open(entry!, holders)))).toBe(sha(data));
    expect(c.peer.a.calls.some((x) => x.startsWith('blob'))).toBe(false);
    expect(await counter(c, 'shoal_proxy_reads_total')).toBe(0);
  });

  it('proxies a version it does not hold from an owner that holds it (whole, verified; or a range)', async () => {
    const c = await cluster();
    const data = bytes(50_000, 4);
    await c.peer.a.hold(entryOf('k', data, v(1)), data);
    await c.peer.b.hold(entryOf('k', data, v(1)), data);
    const { entry, holders } = await c.reads.locate('k');
    expect(sha(await readAll(await c.reads.open(entry!, holders)))).toBe(sha(data));
    const part = await readAll(await c.reads.open(entry!, holders, { start: 100, end: 199 }));
    expect(part.equals(data.subarray(100, 200))).toBe(true);
    expect(await counter(c, 'shoal_proxy_reads_total')).toBe(2);
  });

  it('reads another owner\'s copy when its own fails its check within the first chunk (nothing was sent yet)', async () => {
    const c = await cluster();
    const data = bytes(50_000, 6);
    await hold(c.local.store, entryOf('k', data, v(1)), data);
    await c.peer.a.hold(entryOf('k', data, v(1)), data);
    await c.peer.b.hold(entryOf('k', data, v(1)), data);
    const bad = Buffer.from(data);
    bad[100] ^= 0xff;
    c.local.blobs.tamper(sha(data), bad); // one chunk: the verifying stream fails before handing out a byte
    const { entry, holders } = await c.reads.locate('k');
    expect(sha(await readAll(await c.reads.open(entry!, holders)))).toBe(sha(data));
    expect(await counter(c, 'shoal_proxy_reads_total')).toBe(1);
  });

  it('tries the next holder when one cannot stream, and fails with BAD_GATEWAY when none can', async () => {
    const c = await cluster({ r: 3 }); // both peers answer, so both are named holders
    const data = bytes(30_000, 5);
    await c.peer.a.hold(entryOf('k', data, v(1)), data);
    await c.peer.b.hold(entryOf('k', data, v(1)), data);
    const { entry, holders } = await c.reads.locate('k');
    expect(holders.map((h) => h.id).sort()).toEqual(['a', 'b']);
    c.peer[holders[0].id].down = unreachable(holders[0].id);
    expect(sha(await readAll(await c.reads.open(entry!, holders)))).toBe(sha(data));
    for (const h of holders) c.peer[h.id].down = unreachable(h.id);
    await expect(c.reads.open(entry!, holders)).rejects.toMatchObject({ code: 'BAD_GATEWAY' });
  });
  it('hands out the bytes of a small version it holds inline, checked, for an answer without a stream', async () => {
    const c = await cluster();
    const data = bytes(4096, 6);
    await hold(c.local.store, entryOf('k', data, v(1)), data);
    await c.peer.a.hold(entryOf('k', data, v(1)), data);
    const { entry, holders } = await c.reads.locate('k');
    expect(holders.map((h) => h.id)).toContain('self');
    expect(sha(c.reads.readInline(entry!, holders)!)).toBe(sha(data));
    // Not a holder of the version chosen (only a peer holds it): no local shortcut.
    expect(c.reads.readInline(entry!, holders.filter((h) => h.id !== 'self'))).toBeUndefined();
    // A file above the inline limit is a blob, streamed as before.
    const big = bytes(20_000, 7);
    await hold(c.local.store, entryOf('big', big, v(2)), big);
    const located = await c.reads.locate('big');
    expect(c.reads.readInline(located.entry!, [...located.holders, { id: 'self' } as never])).toBeUndefined();
    c.state.set('recovering');
    expect(c.reads.readInline(entry!, holders)).toBeUndefined();
  });

  it('never hands out a corrupt inline copy: null, and the copy is reported for repair', async () => {
    const c = await cluster();
    const data = bytes(4096, 8);
    const e = entryOf('k', data, v(1));
    await hold(c.local.store, e, data);
    const bad = Buffer.from(data);
    bad[7] ^= 1;
    await c.local.index.putInline(e.sha256, bad);
    const reported: string[] = [];
    c.local.store.corrupted.subscribe((x) => reported.push(x.key));
    const { entry, holders } = await c.reads.locate('k');
    expect(c.reads.readInline(entry!, holders)).toBeNull();
    expect(reported).toEqual(['k']);
    expect(await counter(c, 'shoal_corrupt_blobs_total')).toBe(1);
  });
});

describe('ReadCoordinatorService (N=1)', () => {
  it('the sole owner answers from its own entry, asking nobody', async () => {
    const c = await cluster({ others: [], n: 1, w: 1, r: 1 });
    const data = bytes(100, 9);
    await hold(c.local.store, entryOf('k', data, v(1)), data);
    const { entry, holders } = await c.reads.locate('k');
    expect(entry?.version).toBe(v(1));
    expect(holders.map((h) => h.id)).toEqual(['self']);
    expect(await c.reads.locate('missing')).toEqual({ entry: undefined, holders: [] });
    c.state.set('recovering'); // a recovering node does not trust its own answer, alone or not
    await expect(c.reads.locate('k')).rejects.toMatchObject({ code: 'INSUFFICIENT_REPLICAS' });
  });
});
