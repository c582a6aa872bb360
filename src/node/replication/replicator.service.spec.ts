import { jest } from '@jest/globals';
import { unreachable } from '../peer/fake-peer-client.js';
import type { Entry } from '../storage/entry.js';
import { encodeVersion } from '../storage/hlc.js';
import { body, bytes, cluster, eventually, readAll, sha, T0, type Cluster } from './replication.fixture.js';

const realSetTimeout = globalThis.setTimeout;
const version = encodeVersion(T0, 0, 'self');
const base = (key: string): Omit<Entry, 'sha256' | 'size'> => ({ key, version, contentType: 'x/y', updatedAt: T0, deleted: false });

/** Opens a gate that holds a peer's answers until released. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

async function upload(c: Cluster, key: string, data: Buffer, onChunk?: (i: number) => void) {
  const owners = c.placement.ownersOfKey(key);
  return c.replicator.upload(base(key), body(data, 4096, onChunk), {}, owners, c.placement.effective().w);
}

describe('ReplicatorService (N=3, W=2)', () => {
  it('fans an upload out to every owner while it streams, all holding the same entry', async () => {
    const c = await cluster();
    const data = bytes(64 * 1024);
    const out = await upload(c, 'k', data);
    expect(out).toMatchObject({ ok: true, uncertain: true });
    expect([...out.acked].sort()).toEqual(['a', 'b', 'self']);
    expect(out.acked).toEqual(c.placement.ownersOfKey('k').map((o) => o.id)); // in the owners' order
    for (const store of [c.local.store, c.peer.a.store, c.peer.b.store]) {
      expect(store.get('k')).toEqual(out.entry);
      expect(sha(await readAll(store.openRead(out.entry)))).toBe(sha(data));
    }
    // Each peer received the body as one pipelined leg, not a second transfer after the local copy.
    expect(c.peer.a.calls).toEqual(['upload k', 'finish k']);
  });

  it('succeeds with W of N when one owner refuses, and hints it', async () => {
    const c = await cluster();
    c.peer.b.state.setMembershipPhase('left'); // it answers NODE_LEFT
    const out = await upload(c, 'k', bytes(10_000));
    expect(out.ok).toBe(true);
    expect([...out.acked].sort()).toEqual(['a', 'self']);
    await eventually(() => c.hints.length === 1, 'the hint');
    expect(c.hints[0]).toMatchObject({ owner: 'b', entry: { key: 'k', version } });
  });

  it('answers after the W-th acknowledgement and a short grace, without waiting for a straggler, which still commits', async () => {
    const c = await cluster();
    const slow = gate();
    c.peer.b.gate = slow.wait;
    const started = Date.now();
    const out = await upload(c, 'k', bytes(10_000));
    const took = Date.now() - started;
    expect(out.ok).toBe(true);
    expect([...out.acked].sort()).toEqual(['a', 'self']);
    expect(took).toBeLessThan(1500); // the grace is 500 ms; the straggler is held indefinitely
    expect(c.peer.b.version('k')).toBeUndefined();
    slow.open();
    await eventually(() => c.peer.b.version('k') === version, 'the straggler to commit');
    await new Promise((r) => setTimeout(r, 5));
    expect(c.hints).toEqual([]); // it made it: no hint
  });

  it('leaves no grace timer running once every owner has answered', async () => {
    const c = await cluster();
    const timers: NodeJS.Timeout[] = [];
    const spy = jest.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
      const t = realSetTimeout(fn, ms);
      if (ms === 500) timers.push(t);
      return t;
    }) as typeof setTimeout);
    try {
      const out = await upload(c, 'k', bytes(10_000));
      expect(out.acked).toHaveLength(3);
    } finally {
      spy.mockRestore();
    }
    // Each request that armed the grace cleared it when the last owner answered: nothing keeps its closures alive.
    expect(timers.length).toBeGreaterThan(0);
    for (const t of timers) expect((t as unknown as { _destroyed: boolean })._destroyed).toBe(true);
  });

  it('hints a straggler that fails after the client was answered', async () => {
    const c = await cluster();
    const slow = gate();
    c.peer.b.gate = slow.wait;
    const out = await upload(c, 'k', bytes(10_000));
    expect(out.ok).toBe(true);
    c.peer.b.down = unreachable('b');
    slow.open();
    await eventually(() => c.hints.length === 1, 'the hint');
    expect(c.hints[0].owner).toBe('b');
  });

  it('abandons the write before any owner commits when legs break during the body so that W is out of reach', async () => {
    const c = await cluster();
    const out = await upload(c, 'k', bytes(64 * 1024), (i) => {
      if (i === 2) {
        c.peer.a.down = unreachable('a');
        c.peer.b.down = unreachable('b');
      }
    });
    expect(out).toMatchObject({ ok: false, uncertain: false, acked: [] });
    c.peer.a.down = undefined;
    c.peer.b.down = undefined;
    for (const store of [c.local.store, c.peer.a.store, c.peer.b.store]) expect(store.get('k')).toBeUndefined();
    expect(c.peer.a.calls).not.toContain('finish k');
    expect(c.hints).toEqual([]);
  });

  it('fails without committing locally when W cannot be reached, and says whether an owner may hold it', async () => {
    const c = await cluster();
    // Both peers refuse at the end (an answer): certainly not written anywhere.
    c.peer.a.state.setMembershipPhase('left');
    c.peer.b.state.setMembershipPhase('left');
    const refused = await upload(c, 'k', bytes(10_000));
    expect(refused).toMatchObject({ ok: false, uncertain: false });
    expect(c.local.store.get('k')).toBeUndefined();
    // Only one peer gone silent while the other refused: the silent one may have committed — uncertain.
    const d = await cluster();
    d.peer.a.state.setMembershipPhase('left');
    const silent = gate();
    d.peer.b.gate = silent.wait;
    const pending = upload(d, 'k', bytes(10_000));
    // The silent leg never answers; the write waits for W, which cannot come, until the leg is given up.
    await eventually(() => d.peer.a.calls.includes('finish k'), 'a to refuse');
    d.peer.b.down = unreachable('b');
    silent.open();
    const out = await pending;
    expect(out).toMatchObject({ ok: false, uncertain: true });
    expect(d.local.store.get('k')).toBeUndefined();
  });

  it('writes a tombstone to every owner', async () => {
    const c = await cluster();
    await upload(c, 'k', bytes(100));
    const gone: Entry = { key: 'k', version: encodeVersion(T0 + 1, 0, 'self'), sha256: '', size: 0, contentType: '', updatedAt: T0, deleted: true };
    const out = await c.replicator.write(gone, c.placement.ownersOfKey('k'), 2);
    expect(out.ok).toBe(true);
    for (const store of [c.local.store, c.peer.a.store, c.peer.b.store]) expect(store.get('k')).toMatchObject({ deleted: true });
  });
});

describe('ReplicatorService on a coordinator that owns nothing (N=2 among the peers)', () => {
  it('keeps no copy when every owner took the write', async () => {
    const c = await cluster({ selfOwner: false, n: 2, w: 2 });
    expect(c.placement.ownersOfKey('k').map((o) => o.id).sort()).toEqual(['a', 'b']);
    const out = await upload(c, 'k', bytes(30_000));
    expect([...out.acked].sort()).toEqual(['a', 'b']);
    await new Promise((r) => setTimeout(r, 5));
    expect(c.local.store.get('k')).toBeUndefined();
  });

  it('keeps the bytes (and hints) when an owner missed the write, so the hint can deliver them', async () => {
    const c = await cluster({ selfOwner: false, n: 2, w: 1 });
    c.peer.b.down = unreachable('b');
    const data = bytes(30_000);
    const out = await upload(c, 'k', data);
    expect(out).toMatchObject({ ok: true, acked: ['a'] });
    await eventually(() => c.hints.length === 1, 'the hint');
    expect(c.hints[0].owner).toBe('b');
    const kept = c.local.store.get('k')!;
    expect(sha(await readAll(c.local.store.openRead(kept)))).toBe(sha(data));
  });
});
