import { unreachable } from '../peer/fake-peer-client.js';
import { compareVersions } from '../storage/hlc.js';
import { body, bytes, cluster, counter, entryOf, eventually, member, readAll, sha, versionAt, type Cluster } from './replication.fixture.js';

/**
 * Small writes through the batching peer client (the production PEER_CLIENT), N=3 W=2: concurrent small PUTs reach
 * each owner in a few batched requests, and every write keeps its own fence, its own W count and its own hints.
 */
const KEYS = Array.from({ length: 8 }, (_, i) => `k${i}`);

function putAll(c: Cluster, keys = KEYS) {
  return Promise.allSettled(keys.map((k, i) => c.writes.put(k, body(bytes(4096, i + 1)), { contentType: 'x/y', declaredLength: 4096 })));
}

/** The keys claimed and the keys sent in each of an owner's write batches (calls `writes c,…|k,…`). */
function writeBatches(calls: string[]): { claims: string[]; entries: string[] }[] {
  return calls
    .filter((x) => x.startsWith('writes '))
    .map((x) => {
      const [claims, entries] = x.slice(7).split('|');
      return { claims: claims ? claims.split(',') : [], entries: entries ? entries.split(',') : [] };
    });
}

function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

describe('batched small writes (N=3, W=2)', () => {
  it('stores concurrent small PUTs on every owner in fewer requests than writes', async () => {
    const c = await cluster({ batching: true });
    const out = await putAll(c);
    expect(out.every((r) => r.status === 'fulfilled')).toBe(true);
    for (const [i, k] of KEYS.entries()) {
      for (const store of [c.local.store, c.peer.a.store, c.peer.b.store]) {
        const e = store.get(k)!;
        expect(sha(await readAll(store.openRead(e)))).toBe(sha(bytes(4096, i + 1)));
      }
    }
    // One fence claim and one entry per key, folded into write batches: fewer requests than writes.
    const batches = writeBatches(c.peer.a.calls);
    expect(batches.length).toBeLessThan(KEYS.length);
    expect(c.peer.a.calls.filter((x) => !x.startsWith('writes '))).toEqual([]); // nothing went single or on older routes
    expect(batches.flatMap((b) => b.claims).sort()).toEqual([...KEYS].sort());
    expect(batches.flatMap((b) => b.entries).sort()).toEqual([...KEYS].sort());
    expect(c.hints).toEqual([]);
  });

  it('hints every entry of a batch that failed, and still acknowledges each write with W', async () => {
    const c = await cluster({ batching: true });
    // b answers the fence, then dies before the entries reach it: the whole batch to b fails.
    const dying = gate();
    const writes = KEYS.map((k, i) => {
      const p = c.writes.put(k, body(bytes(4096, i + 1), 4096, () => dying.open()), { contentType: 'x/y', declaredLength: 4096 });
      return p;
    });
    await dying.wait;
    c.peer.b.down = unreachable('b');
    const out = await Promise.all(writes);
    for (const s of out) expect([...s.nodes].sort()).toEqual(['a', 'self']);
    await eventually(() => c.hints.length === KEYS.length, 'a hint per entry');
    expect(c.hints.every((h) => h.owner === 'b')).toBe(true);
    expect(c.hints.map((h) => h.entry.key).sort()).toEqual([...KEYS].sort());
  });

  it('fences each write on its own: owners holding a newer version of one key make only that write retry above it', async () => {
    const c = await cluster({ batching: true });
    const ahead = versionAt(3_600_000, 'other'); // an hour ahead of the coordinator's clock
    // Held by both peers, so every W of answers includes one that holds it (as after an acknowledged write).
    await c.peer.a.hold(entryOf('k3', bytes(10), ahead), bytes(10));
    await c.peer.b.hold(entryOf('k3', bytes(10), ahead), bytes(10));
    const out = await putAll(c);
    const stored = out.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
    expect(stored.every(Boolean)).toBe(true);
    expect(compareVersions(stored[3]!.entry.version, ahead)).toBeGreaterThan(0);
    for (const s of stored) expect(c.peer.a.version(s!.entry.key)).toBe(s!.entry.version);
    // Only k3 was proposed twice.
    const proposed = writeBatches(c.peer.a.calls).flatMap((b) => b.claims);
    expect(proposed.filter((k) => k === 'k3')).toHaveLength(2);
    expect(proposed.filter((k) => k !== 'k3')).toHaveLength(KEYS.length - 1);
  });

  it('answers a write refused by one owner inside a batch from the other owners, without failing its neighbours', async () => {
    const c = await cluster({ batching: true });
    const slow = gate();
    c.peer.a.gate = slow.wait;
    const writes = putAll(c);
    await new Promise((r) => setTimeout(r, 10));
    c.peer.a.state.setMembershipPhase('left'); // it answers every entry with NODE_LEFT from now on
    slow.open();
    const out = await writes;
    expect(out.every((r) => r.status === 'fulfilled')).toBe(true);
    for (const r of out) if (r.status === 'fulfilled') expect(r.value.nodes).toContain('self');
  });

  it('delivers missed small entries (hints, hand-overs) to an owner in batches', async () => {
    const c = await cluster({ batching: true });
    const entries = [];
    for (const [i, k] of KEYS.entries()) {
      const e = entryOf(k, bytes(4096, i + 1), versionAt(i + 1));
      await c.local.store.commit(e, await c.local.store.stage(body(bytes(4096, i + 1)), {}));
      entries.push(e);
    }
    const held = await c.delivery.deliverMissing(member('b'), entries, 'handoff');
    expect(held.map((e) => e.key).sort()).toEqual([...KEYS].sort());
    for (const e of entries) expect(c.peer.b.version(e.key)).toBe(e.version);
    const sent = c.peer.b.calls.filter((x) => !x.startsWith('versions '));
    expect(sent.every((x) => x.startsWith('writes |'))).toBe(true); // entries only, in write batches
    expect(sent.length).toBeLessThan(KEYS.length);
  });

  it('never sends a corrupt inline blob on: it goes through the verified read, which cuts it and reports it', async () => {
    const c = await cluster({ batching: true });
    const data = bytes(4096, 3);
    const e = entryOf('rot', data, versionAt(1));
    await c.local.store.commit(e, await c.local.store.stage(body(data), {}));
    const bad = Buffer.from(data);
    bad[0] ^= 0xff;
    await c.local.index.putInline(e.sha256, bad); // bit rot under the entry
    expect(await c.delivery.deliverMissing(member('b'), [e], 'handoff')).toEqual([]);
    expect(c.peer.b.version('rot')).toBeUndefined();
    expect(c.peer.b.calls.some((x) => x.startsWith('batch ') || x.startsWith('writes '))).toBe(false);
    await eventually(async () => (await counter(c, 'shoal_corrupt_blobs_total')) === 1, 'the corruption reported');
  });

  it('reads with R=2 ask one other owner each, with one batched version query per peer for concurrent GETs', async () => {
    const c = await cluster({ batching: true });
    await putAll(c);
    c.peer.a.calls.length = 0;
    c.peer.b.calls.length = 0;
    const slow = gate();
    c.peer.a.gate = slow.wait;
    c.peer.b.gate = slow.wait;
    const first = c.reads.locate('k0');
    await new Promise((r) => setImmediate(r));
    const rest = KEYS.slice(1).map((k) => c.reads.locate(k));
    slow.open();
    const found = await Promise.all([first, ...rest]);
    expect(found.map((f) => f.entry?.key)).toEqual(KEYS);
    const queries = (p: { calls: string[] }) => p.calls.filter((x) => x.startsWith('versions '));
    // This node's own answer is one of the R: each key is asked of exactly one other owner.
    const asked = [...queries(c.peer.a), ...queries(c.peer.b)].flatMap((x) => x.slice('versions '.length).split(','));
    expect(asked.sort()).toEqual([...KEYS].sort());
    // The first query goes at once; the GETs that come while it is out share one request per peer.
    for (const p of [c.peer.a, c.peer.b]) expect(queries(p).length).toBeLessThanOrEqual(2);
    expect(queries(c.peer.a).length + queries(c.peer.b).length).toBeLessThanOrEqual(3);
  });
});
