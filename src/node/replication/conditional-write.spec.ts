import { Readable } from 'node:stream';
import type { WriteCondition } from './fencing.js';
import { bytes, cluster } from './replication.fixture.js';

class Refused extends Error {}

/** S3's `If-None-Match: *` as the coordinator's condition: only when no live version exists. */
function createOnly(token: string): WriteCondition {
  return {
    token,
    check: (newest) => {
      if (newest.version !== null && !newest.deleted) throw new Refused('precondition');
    },
    conflict: () => new Refused('conflict'),
  };
}

describe('conditional writes, checked at the owners under the fence', () => {
  it('of two claims racing for a key, the second finds it granted to the first on W owners and is refused', async () => {
    const c = await cluster();
    const owners = c.placement.ownersOfKey('k');
    await c.fence.claim('k', owners, 2, createOnly('first'));
    await expect(c.fence.claim('k', owners, 2, createOnly('second'))).rejects.toThrow('conflict');
    // An unconditional write is not held up (last writer wins, as ever).
    await expect(c.fence.claim('k', owners, 2)).resolves.toBeDefined();
  });

  it('once a conditional write is committed its grants are given up, and the next create sees the object', async () => {
    const c = await cluster();
    const owners = c.placement.ownersOfKey('k');
    await c.writes.put('k', Readable.from([bytes(1000)]), { contentType: 'x/y', condition: createOnly('first') });
    for (const store of [c.local.store, c.peer.a.store, c.peer.b.store]) expect(store.get('k')).toBeDefined();
    await expect(c.writes.put('k', Readable.from([bytes(1000, 2)]), { contentType: 'x/y', condition: createOnly('second') })).rejects.toThrow('precondition');
    // The refused claim gave its grants up: a third writer is judged on the object, not on a stale grant.
    await expect(c.fence.claim('k', owners, 2, createOnly('third'))).rejects.toThrow('precondition');
  });

  it('a refused conditional write sends no byte to any owner', async () => {
    const c = await cluster();
    const owners = c.placement.ownersOfKey('k');
    await c.fence.claim('k', owners, 2, createOnly('first'));
    c.peer.a.calls.length = 0;
    await expect(c.writes.put('k', Readable.from([bytes(1000)]), { contentType: 'x/y', condition: createOnly('second') })).rejects.toThrow('conflict');
    expect(c.peer.a.calls.filter((call) => !call.startsWith('fence'))).toEqual([]);
    expect(c.local.store.get('k')).toBeUndefined();
  });
});
