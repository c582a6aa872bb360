import { unreachable } from '../peer/fake-peer-client.js';
import { tombstone } from '../storage/entry.js';
import type { OwnerAnswer } from './read-repair.service.js';
import { T0, bytes, cluster, counter, entryOf, eventually, hold, member, readAll, sha, type Cluster, versionAt as v } from './replication.fixture.js';


/** The settled answers of a read, as ReadCoordinatorService hands them over. */
function answers(c: Cluster, held: Record<string, ReturnType<typeof entryOf> | null>): PromiseSettledResult<OwnerAnswer>[] {
  return Object.entries(held).map(([id, entry]) => ({ status: 'fulfilled', value: { member: c.membership.value.find((m) => m.id === id) ?? member(id), entry } }));
}


describe('ReadRepairService', () => {
  it('sends the newest version from the local store to an owner that answered with an older one', async () => {
    const c = await cluster();
    const old = bytes(20_000, 1);
    const fresh = bytes(20_000, 2);
    const newest = entryOf('k', fresh, v(2));
    await hold(c.local.store, newest, fresh);
    await hold(c.peer.b.store, entryOf('k', old, v(1)), old);
    await c.readRepair.repair(newest, answers(c, { self: newest, a: newest, b: entryOf('k', old, v(1)) }));
    expect(c.peer.b.version('k')).toBe(v(2));
    expect(sha(await readAll(c.peer.b.store.openRead(c.peer.b.store.get('k')!)))).toBe(sha(fresh));
    expect(c.peer.a.calls).toEqual([]); // up to date: left alone
    expect(await counter(c, 'shoal_read_repairs_total')).toBe(1);
  });

  it('relays the bytes from an owner that holds the newest version when this node does not', async () => {
    const c = await cluster();
    const fresh = bytes(20_000, 3);
    const newest = entryOf('k', fresh, v(2));
    await c.peer.a.hold(newest, fresh);
    await c.readRepair.repair(newest, answers(c, { self: null, a: newest, b: null }));
    expect(c.peer.a.calls).toContain(`blob ${newest.sha256}`);
    expect(c.peer.b.version('k')).toBe(v(2));
    expect(sha(await readAll(c.peer.b.store.openRead(c.peer.b.store.get('k')!)))).toBe(sha(fresh));
    expect(c.local.store.get('k')).toBeUndefined(); // the coordinator itself is not repaired by its own read
  });

  it('repairs a delete with its tombstone, no bytes needed', async () => {
    const c = await cluster();
    const old = bytes(10, 1);
    await c.peer.b.hold(entryOf('k', old, v(1)), old);
    const gone = tombstone('k', v(2), T0);
    await c.readRepair.repair(gone, answers(c, { a: gone, b: entryOf('k', old, v(1)) }));
    expect(c.peer.b.store.get('k')).toMatchObject({ deleted: true, version: v(2) });
  });

  it('pushes nothing while this node is recovering, and gives up quietly when no source has the bytes', async () => {
    const c = await cluster();
    const fresh = bytes(10, 4);
    const newest = entryOf('k', fresh, v(2));
    c.state.set('recovering');
    await c.readRepair.repair(newest, answers(c, { a: newest, b: null }));
    c.state.set('ready');
    expect(c.peer.b.calls).toEqual([]);
    // Nobody can provide the bytes (the only holder went away): nothing is sent, nothing thrown.
    c.peer.a.down = unreachable('a');
    await c.readRepair.repair(newest, answers(c, { b: null }));
    expect(c.peer.b.calls).toEqual([]);
  });

  it('runs after a read in the background: a stale owner found by locate() is brought up to date', async () => {
    const c = await cluster({ r: 3 });
    const old = bytes(5_000, 1);
    const fresh = bytes(5_000, 2);
    await hold(c.local.store, entryOf('k', fresh, v(2)), fresh);
    await c.peer.a.hold(entryOf('k', fresh, v(2)), fresh);
    await c.peer.b.hold(entryOf('k', old, v(1)), old);
    const { entry } = await c.reads.locate('k');
    expect(entry?.version).toBe(v(2));
    await eventually(() => c.peer.b.version('k') === v(2), 'the read-repair of b');
  });
});
