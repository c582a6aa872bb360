import { createHash } from 'node:crypto';
import type { Entry } from '../storage/entry.js';
import { encodeVersion } from '../storage/hlc.js';
import { BatchingPeerClient, DEFAULT_BATCHING, type BatchingLimits } from './batching-peer-client.js';
import { FakePeerClient, unreachable, type FakePeer } from './fake-peer-client.js';
import { answeredByPeer, PeerAnswerError, type PeerRef } from './peer-client.js';
import { decodeEntryBatch, decodeWriteBatch, encodeEntryBatch, encodeWriteBatch } from './wire.js';

const T0 = 1_700_000_000_000;
const A: PeerRef = { id: 'a', url: 'http://a.test' };
const v = (ms: number, node = 'self') => encodeVersion(T0 + ms, 0, node);
const data = (k: string) => Buffer.from(`bytes of ${k}`);
const entry = (k: string, ms = 1, body = data(k)): Entry => ({ key: k, version: v(ms), sha256: createHash('sha256').update(body).digest('hex'), size: body.length, contentType: 'x/y', updatedAt: T0, deleted: false });

function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

/** Lets the coalescer's end-of-turn flush run. */
const turn = () => new Promise((r) => setImmediate(r));

async function setup(limits: Partial<BatchingLimits> = {}): Promise<{ fake: FakePeerClient; a: FakePeer; client: BatchingPeerClient; batches: number[] }> {
  const fake = new FakePeerClient({ partitionBits: 4 });
  const a = await fake.add('a');
  const batches: number[] = [];
  const client = new BatchingPeerClient(fake, { ...DEFAULT_BATCHING, ...limits }, (_kind, n) => batches.push(n));
  return { fake, a, client, batches };
}

describe('BatchingPeerClient', () => {
  it('sends an item at once when nothing is in flight, and coalesces what arrives while a batch is in flight', async () => {
    const { a, client } = await setup({ writes: { ...DEFAULT_BATCHING.writes, maxInFlight: 1 } });
    const slow = gate();
    a.gate = slow.wait;
    const first = client.putEntry(A, entry('k0'), data('k0'));
    await turn();
    expect(a.calls).toEqual(['writes |k0']); // flushed on idle: no timer, no waiting for company
    const rest = ['k1', 'k2', 'k3'].map((k) => client.putEntry(A, entry(k), data(k)));
    await turn();
    expect(a.calls).toEqual(['writes |k0']); // one batch in flight: the others wait for it
    slow.open();
    await Promise.all([first, ...rest]);
    expect(a.calls).toEqual(['writes |k0', 'writes |k1,k2,k3']);
    for (const k of ['k0', 'k1', 'k2', 'k3']) expect(a.version(k)).toBe(v(1));
  });

  it('gives each entry its own outcome: one refused entry fails alone', async () => {
    const { a, client } = await setup();
    await a.hold(entry('newer', 50), data('newer'));
    const bad = { ...entry('bad'), sha256: 'f'.repeat(64) };
    const [ok, refused, older] = await Promise.allSettled([client.putEntry(A, entry('ok'), data('ok')), client.putEntry(A, bad, data('bad')), client.putEntry(A, entry('newer', 1), data('newer'))]);
    expect(a.calls).toEqual(['writes |ok,bad,newer']);
    expect(ok).toEqual({ status: 'fulfilled', value: { applied: true, version: v(1) } });
    expect(refused.status).toBe('rejected');
    const err = (refused as PromiseRejectedResult).reason as PeerAnswerError;
    expect(err).toBeInstanceOf(PeerAnswerError);
    expect(err.problemCode).toBe('CHECKSUM_MISMATCH');
    expect(answeredByPeer(err)).toBe(true); // a refusal, not silence: the write knows nothing was stored there
    expect(older).toEqual({ status: 'fulfilled', value: { applied: false, version: v(50) } }); // LWW, as on its own
    expect(a.version('bad')).toBeUndefined();
  });

  it('caps a batch in entries and in bytes', async () => {
    const { a, client, batches } = await setup({ writes: { maxItems: 2, maxBytes: 10_000, maxInFlight: 1 } });
    const slow = gate();
    a.gate = slow.wait;
    const keys = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'];
    const all = keys.map((k) => client.putEntry(A, entry(k), data(k)));
    // 4 KiB bodies: two of them and their overhead pass 10 000 bytes, so big ones travel one by one.
    const big = Buffer.alloc(4096, 7);
    const bigs = ['b0', 'b1', 'b2'].map((k) => client.putEntry(A, entry(k, 1, big), big));
    slow.open();
    await Promise.all([...all, ...bigs]);
    expect(batches).toEqual([2, 2, 2, 2, 1]);
    expect(a.calls).toEqual(['writes |k0,k1', 'writes |k2,k3', 'writes |k4,k5', 'writes |b0,b1', 'writes |b2']);
  });

  it('fails every entry of a batch whose request failed, and sends the next batch all the same', async () => {
    const { a, client } = await setup();
    a.down = unreachable('a');
    const failed = await Promise.allSettled(['k0', 'k1'].map((k) => client.putEntry(A, entry(k), data(k))));
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(answeredByPeer((failed[0] as PromiseRejectedResult).reason)).toBe(false); // silence: may have committed
    a.down = undefined;
    await client.putEntry(A, entry('k2'), data('k2'));
    expect(a.version('k2')).toBe(v(1));
  });

  it('batches tombstones with the small entries, but sends large or streamed bodies on their own', async () => {
    const { a, client } = await setup();
    await a.hold(entry('gone'), data('gone'));
    const tomb: Entry = { key: 'gone', version: v(9), sha256: '', size: 0, contentType: '', updatedAt: T0, deleted: true };
    const large = Buffer.alloc(20_000, 3);
    await Promise.all([client.putTombstone(A, tomb), client.putEntry(A, entry('large', 1, large), large)]);
    expect(a.calls.sort()).toEqual(['put large', 'writes |gone']);
    expect(a.store.get('gone')?.deleted).toBe(true);
  });

  it('coalesces fence proposals per peer, each judged on its own', async () => {
    const { a, client } = await setup();
    await a.hold(entry('held', 50), data('held'));
    const slow = gate();
    a.gate = slow.wait;
    const first = client.fence(A, 'x', v(10), 2000);
    await turn();
    const more = [client.fence(A, 'held', v(10), 2000), client.fence(A, 'y', v(10), 2000)];
    slow.open();
    expect(await first).toEqual({ held: null, deleted: false });
    expect(await Promise.all(more)).toEqual([{ held: v(50), deleted: false }, { held: null, deleted: false }]);
    expect(a.calls).toEqual(['writes x|', 'writes held,y|']);
  });

  it("sends a conditional write's claim (it reserves the key on the owner) on its own, never in a batch", async () => {
    const { a, client } = await setup();
    const [plain, reserving] = await Promise.all([client.fence(A, 'p', v(10), 2000), client.fence(A, 'c', v(10), 2000, 'token-1')]);
    expect(plain).toEqual({ held: null, deleted: false });
    expect(reserving).toEqual(expect.objectContaining({ held: null, reserved: true }));
    expect(a.calls.sort()).toEqual(['fence c', 'writes p|']);
  });

  it('refuses every fence of a batch sent to a recovering owner (its word must not count)', async () => {
    const { a, client } = await setup();
    a.state.set('recovering');
    const out = await Promise.allSettled([client.fence(A, 'x', v(10), 2000), client.fence(A, 'y', v(10), 2000)]);
    expect(out.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(((out[0] as PromiseRejectedResult).reason as PeerAnswerError).problemCode).toBe('NOT_READY');
  });

  it("coalesces reads' single-key version queries into one request, and passes many-key queries straight", async () => {
    const { a, client } = await setup();
    await a.hold(entry('k1'), data('k1'));
    const slow = gate();
    a.gate = slow.wait;
    const first = client.versions(A, ['k0']);
    await turn();
    const more = [client.versions(A, ['k1']), client.versions(A, ['k2'])];
    const many = client.versions(A, ['k1', 'k2']);
    slow.open();
    expect(await first).toEqual([null]);
    expect((await Promise.all(more)).map((r) => r[0]?.version ?? null)).toEqual([v(1), null]);
    expect((await many).map((e) => e?.key ?? null)).toEqual(['k1', null]);
    expect(a.calls.sort()).toEqual(['versions k0', 'versions k1,k2', 'versions k1,k2']);
  });

  it('falls back to single requests for a peer of protocol 1, and remembers it', async () => {
    const { a, client } = await setup();
    a.legacy = true;
    await Promise.all([client.putEntry(A, entry('k0'), data('k0')), client.fence(A, 'k0', v(5), 2000)]);
    // The write batch's 404, then the two protocol-2 routes' 404s, mark the peer: each item goes single.
    expect(a.calls.slice(0, 3)).toEqual(['writes k0|k0', 'fences k0', 'batch k0']);
    expect(a.calls.slice(3).sort()).toEqual(['fence k0', 'put k0']);
    a.calls.length = 0;
    await client.putEntry(A, entry('k1'), data('k1'));
    expect(a.calls).toEqual(['put k1']); // not asked with a batch again for a while
    expect(a.version('k1')).toBe(v(1));
  });

  it('sends the claims of new writes and the entries of fenced ones together, each with its own answer', async () => {
    const { a, client, batches } = await setup();
    await a.hold(entry('held', 50), data('held'));
    const slow = gate();
    a.gate = slow.wait;
    const first = client.fence(A, 'k0', v(10), 2000);
    await turn();
    const claims = [client.fence(A, 'held', v(10), 2000), client.fence(A, 'k1', v(10), 2000)];
    const puts = [client.putEntry(A, entry('k0', 10), data('k0')), client.putEntry(A, entry('held', 1), data('held'))];
    slow.open();
    expect(await first).toEqual({ held: null, deleted: false });
    expect(await Promise.all(claims)).toEqual([{ held: v(50), deleted: false }, { held: null, deleted: false }]);
    expect(await Promise.all(puts)).toEqual([{ applied: true, version: v(10) }, { applied: false, version: v(50) }]);
    expect(a.calls).toEqual(['writes k0|', 'writes held,k1|k0,held']);
    expect(batches).toEqual([1, 2, 2]); // claims, then claims and entries of the one mixed request
  });

  it('sends claims and entries on the two batch routes to a peer of protocol 2, and remembers it', async () => {
    const { a, client } = await setup();
    a.protocol2 = true;
    await Promise.all([client.putEntry(A, entry('k0'), data('k0')), client.fence(A, 'k1', v(5), 2000)]);
    expect(a.calls).toEqual(['writes k1|k0', 'fences k1', 'batch k0']);
    a.calls.length = 0;
    await Promise.all([client.putEntry(A, entry('k2'), data('k2')), client.fence(A, 'k3', v(5), 2000)]);
    expect(a.calls).toEqual(['fences k3', 'batch k2']);
    expect(a.version('k2')).toBe(v(1));
  });

  it('fails a claim at its own deadline while the entries of its batch wait for theirs', async () => {
    const { a, client } = await setup();
    const slow = gate();
    a.gate = slow.wait;
    const claim = client.fence(A, 'c', v(10), 30);
    const put = client.putEntry(A, entry('k0'), data('k0'), { timeoutMs: 5000 });
    await expect(claim).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(a.calls).toEqual(['writes c|k0']); // one request: the claim's 30 ms did not cut it short
    slow.open();
    expect(await put).toEqual({ applied: true, version: v(1) });
  });

  it('sends a second batch while the first is in flight, up to the cap, and queues the rest behind them', async () => {
    const { a, client } = await setup(); // two write batches in flight per peer
    const slow = gate();
    a.gate = slow.wait;
    const first = client.putEntry(A, entry('k0'), data('k0'));
    await turn();
    const second = client.putEntry(A, entry('k1'), data('k1'));
    await turn();
    const rest = ['k2', 'k3'].map((k) => client.putEntry(A, entry(k), data(k)));
    await turn();
    expect(a.calls).toEqual(['writes |k0', 'writes |k1']);
    slow.open();
    await Promise.all([first, second, ...rest]);
    expect(a.calls).toEqual(['writes |k0', 'writes |k1', 'writes |k2,k3']);
  });

  it('fails an entry whose deadline passed while it was queued, without sending it', async () => {
    const { a, client } = await setup({ writes: { ...DEFAULT_BATCHING.writes, maxInFlight: 1 } });
    const slow = gate();
    a.gate = slow.wait;
    const first = client.putEntry(A, entry('k0'), data('k0'), { timeoutMs: 5000 });
    await turn();
    const late = client.putEntry(A, entry('k1'), data('k1'), { timeoutMs: 5 });
    await new Promise((r) => setTimeout(r, 20));
    slow.open();
    await first;
    await expect(late).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(a.calls).toEqual(['writes |k0']);
  });

  it('passes no timeout for a batch whose entries have none (not an overflowing one)', async () => {
    const fake = new FakePeerClient({ partitionBits: 4 });
    const a = await fake.add('a');
    const seen: (number | undefined)[] = [];
    const spy = Object.assign(Object.create(fake) as FakePeerClient, {
      writeBatch: (ref: PeerRef, claims: Parameters<FakePeerClient['writeBatch']>[1], items: Parameters<FakePeerClient['writeBatch']>[2], opts?: { timeoutMs?: number }) => {
        seen.push(opts?.timeoutMs);
        return fake.writeBatch(ref, claims, items, opts);
      },
    });
    const client = new BatchingPeerClient(spy);
    await client.putEntry(A, entry('k0'), data('k0'));
    await client.putEntry(A, entry('k1'), data('k1'), { timeoutMs: 3000 });
    expect(seen[0]).toBe(0);
    expect(seen[1]).toBeGreaterThan(2900);
    expect(seen[1]).toBeLessThanOrEqual(3000);
    expect(a.version('k1')).toBe(v(1));
  });

  it('drops an entry aborted while queued: nothing is sent for it', async () => {
    const { a, client } = await setup();
    const slow = gate();
    a.gate = slow.wait;
    const first = client.putEntry(A, entry('k0'), data('k0'));
    await turn();
    const ctl = new AbortController();
    const aborted = client.putEntry(A, entry('k1'), data('k1'), { signal: ctl.signal });
    const kept = client.putEntry(A, entry('k2'), data('k2'));
    ctl.abort(new Error('write abandoned'));
    await expect(aborted).rejects.toThrow('write abandoned');
    slow.open();
    await Promise.all([first, kept]);
    expect(a.calls).toEqual(['writes |k0', 'writes |k2']);
  });
});

describe('the entry batch frame', () => {
  it('round-trips entries, bytes and tombstones', () => {
    const tomb: Entry = { key: 't', version: v(2), sha256: '', size: 0, contentType: '', updatedAt: T0, deleted: true };
    const items = [{ entry: entry('a'), data: data('a') }, { entry: tomb }, { entry: entry('b'), data: data('b') }];
    const out = decodeEntryBatch(encodeEntryBatch(items));
    expect(out.map((i) => i.entry)).toEqual(items.map((i) => i.entry));
    expect(out.map((i) => i.data?.toString())).toEqual(['bytes of a', undefined, 'bytes of b']);
  });

  it('carries claims beside the entries in a write batch', () => {
    const claims = [{ key: 'c', version: v(3) }];
    const items = [{ entry: entry('a'), data: data('a') }];
    const out = decodeWriteBatch(encodeWriteBatch(claims, items));
    expect(out.claims).toEqual(claims);
    expect(out.items.map((i) => [i.entry, i.data?.toString()])).toEqual([[items[0].entry, 'bytes of a']]);
    expect(() => decodeWriteBatch(encodeEntryBatch(items))).toThrow(/claims must be an array/); // not a write batch
  });

  it.each([
    ['cut short', (b: Buffer) => b.subarray(0, b.length - 1)],
    ['with bytes left over', (b: Buffer) => Buffer.concat([b, Buffer.from('x')])],
    ['with a manifest length past the end', (b: Buffer) => Buffer.concat([Buffer.from([0xff, 0, 0, 0]), b.subarray(4)])],
    ['with a manifest that is not JSON', (b: Buffer) => Buffer.concat([b.subarray(0, 4), Buffer.from('{'.padEnd(b.readUInt32BE(0), ' ')), b.subarray(4 + b.readUInt32BE(0))])],
  ])('refuses a frame %s', (_name, mangle) => {
    const frame = encodeEntryBatch([{ entry: entry('a'), data: data('a') }]);
    expect(() => decodeEntryBatch(mangle(frame))).toThrow(/malformed entry batch/);
  });
});
