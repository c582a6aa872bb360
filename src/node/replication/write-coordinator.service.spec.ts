import { jest } from '@jest/globals';
import { ShoalError } from '../../common/errors.js';
import { unreachable } from '../peer/fake-peer-client.js';
import { compareVersions, encodeVersion } from '../storage/hlc.js';
import { T0, body, bytes, cluster, counter, entryOf, eventually, readAll, sha } from './replication.fixture.js';

const HOUR = 3_600_000;


async function refusal(p: Promise<unknown>): Promise<ShoalError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  if (!(err instanceof ShoalError)) throw new Error(`expected a ShoalError, got ${String(err)}`);
  return err;
}

describe('WriteCoordinatorService (N=3, W=2: the coordinator and two peers own every key)', () => {
  it('answers once W owners hold the upload, and every owner ends up with the same version and bytes', async () => {
    const c = await cluster();
    const data = bytes(40_000);
    const stored = await c.writes.put('k', body(data), { contentType: 'text/plain', declaredLength: data.length });
    expect(stored.replicas).toBeGreaterThanOrEqual(2);
    expect(stored.entry).toMatchObject({ key: 'k', sha256: sha(data), size: data.length, contentType: 'text/plain' });
    // The straggler grace lets the third owner join in: all three acknowledged, in the owners' order.
    expect(stored.nodes.sort()).toEqual(['a', 'b', 'self']);
    for (const store of [c.local.store, c.peer.a.store, c.peer.b.store]) {
      const e = store.get('k')!;
      expect(e.version).toBe(stored.entry.version);
      expect(sha(await readAll(store.openRead(e)))).toBe(sha(data)); // (a digest: jest compares large Buffers slowly)
    }
    expect(c.hints).toEqual([]);
  });

  it('refuses with 503 INSUFFICIENT_REPLICAS before reading the body when fewer than W owners are up', async () => {
    const c = await cluster();
    c.setStatus('a', 'down');
    c.setStatus('b', 'down');
    const b = body(bytes(1000));
    const err = await refusal(c.writes.put('k', b, { contentType: 'x/y' }));
    expect(err.code).toBe('INSUFFICIENT_REPLICAS');
    expect(err.status).toBe(503);
    expect(err.headers['Retry-After']).toBe('5');
    expect(b.touched()).toBe(false);
    // Nothing was asked of anyone, nothing stored anywhere.
    expect([...c.peer.a.calls, ...c.peer.b.calls]).toEqual([]);
    expect(c.local.store.get('k')).toBeUndefined();
  });

  it('refuses with 503 before reading the body when the owners are listed up but do not answer the fence', async () => {
    const c = await cluster();
    c.peer.a.down = unreachable('a');
    c.peer.b.down = unreachable('b');
    const b = body(bytes(1000));
    const err = await refusal(c.writes.put('k', b, { contentType: 'x/y' }));
    expect(err.code).toBe('INSUFFICIENT_REPLICAS');
    expect(err.message).toMatch(/nothing was written/);
    expect(b.touched()).toBe(false);
    expect(c.local.store.get('k')).toBeUndefined();
  });

  it('refuses a write with 503 CLOCK_SKEW while the registries judge its clock off, and 503 NODE_LEFT once it left', async () => {
    const c = await cluster();
    c.state.setClock(true, [-120_000]);
    const b = body(bytes(10));
    expect((await refusal(c.writes.put('k', b, { contentType: 'x/y' }))).code).toBe('CLOCK_SKEW');
    expect(b.touched()).toBe(false);
    expect(() => c.writes.assertWritable('k')).toThrow(expect.objectContaining({ code: 'CLOCK_SKEW' }));
    c.state.setClock(false, [0]);
    c.state.setMembershipPhase('left');
    expect((await refusal(c.writes.put('k', body(bytes(10)), { contentType: 'x/y' }))).code).toBe('NODE_LEFT');
    expect(c.peer.a.calls).toEqual([]);
  });

  it('refuses an upload whose declared length exceeds MAX_OBJECT_BYTES with 413, before reading it', async () => {
    const c = await cluster({ config: { maxObjectBytes: 100 } });
    const b = body(bytes(200));
    expect((await refusal(c.writes.put('k', b, { contentType: 'x/y', declaredLength: 200 }))).code).toBe('PAYLOAD_TOO_LARGE');
    expect(b.touched()).toBe(false);
  });

  it('proposes again above a newer version an owner holds (fencing), so the write wins although its clock is behind', async () => {
    const c = await cluster();
    const old = bytes(100, 2);
    const ahead = encodeVersion(T0 + HOUR, 0, 'fast'); // written earlier through a node whose clock runs an hour ahead
    await c.peer.a.hold(entryOf('k', old, ahead), old);
    await c.peer.b.hold(entryOf('k', old, ahead), old);
    const data = bytes(100, 3);
    const stored = await c.writes.put('k', body(data), { contentType: 'x/y' });
    expect(compareVersions(stored.entry.version, ahead)).toBeGreaterThan(0);
    expect(await counter(c, 'shoal_fenced_retries_total')).toBe(1);
    expect(c.peer.a.calls.filter((x) => x.startsWith('fence')).length + c.peer.b.calls.filter((x) => x.startsWith('fence')).length).toBeGreaterThanOrEqual(3);
    for (const p of [c.peer.a, c.peer.b]) expect(p.version('k')).toBe(stored.entry.version);
  });

  it('leaves a hint for an owner that missed the write (listed up but unreachable), and succeeds with W', async () => {
    const c = await cluster();
    c.peer.b.down = unreachable('b');
    const data = bytes(30_000);
    const stored = await c.writes.put('k', body(data), { contentType: 'x/y' });
    expect([...stored.nodes].sort()).toEqual(['a', 'self']);
    expect(stored.replicas).toBe(2);
    await eventually(() => c.hints.length === 1, 'the hint');
    expect(c.hints[0]).toMatchObject({ owner: 'b', entry: { key: 'k', version: stored.entry.version } });
    expect(c.peer.b.version('k')).toBeUndefined();
  });

  it('hints an owner that is down without trying it', async () => {
    const c = await cluster();
    c.setStatus('b', 'down');
    await c.writes.put('k', body(bytes(10)), { contentType: 'x/y' });
    await eventually(() => c.hints.length === 1, 'the hint');
    expect(c.hints[0].owner).toBe('b');
    expect(c.peer.b.calls).toEqual([]);
  });

  it('commits a staged upload (a form) to the owners, streaming the staged bytes to each', async () => {
    const c = await cluster();
    const data = bytes(100_000); // above the inline threshold: read back from staging for every peer
    const staged = await c.writes.stage(body(data), {});
    const stored = await c.writes.commitUpload('form', staged, 'image/png', { 'x-amz-meta-a': '1' });
    expect(stored.replicas).toBe(3);
    for (const p of [c.peer.a, c.peer.b]) {
      const e = p.store.get('form')!;
      expect(e).toMatchObject({ sha256: sha(data), meta: { 'x-amz-meta-a': '1' } });
      expect(sha(await readAll(p.store.openRead(e)))).toBe(sha(data)); // (a digest: jest compares large Buffers slowly)
    }
  });

  it('drops a staged upload that is refused (fewer than W up): nothing is committed', async () => {
    const c = await cluster();
    const staged = await c.writes.stage(body(bytes(50_000)), {});
    c.setStatus('a', 'down');
    c.setStatus('b', 'down');
    expect((await refusal(c.writes.commitUpload('form', staged, 'x/y'))).code).toBe('INSUFFICIENT_REPLICAS');
    expect(c.local.store.get('form')).toBeUndefined();
  });

  it('deletes with a fenced tombstone at the owners; deleting what is not there is 404', async () => {
    const c = await cluster();
    const stored = await c.writes.put('k', body(bytes(10)), { contentType: 'x/y' });
    await c.writes.delete('k');
    for (const store of [c.local.store, c.peer.a.store, c.peer.b.store]) {
      const e = store.get('k')!;
      expect(e.deleted).toBe(true);
      expect(compareVersions(e.version, stored.entry.version)).toBeGreaterThan(0);
    }
    expect((await refusal(c.writes.delete('k'))).code).toBe('NOT_FOUND');
    expect((await refusal(c.writes.delete('never'))).code).toBe('NOT_FOUND');
  });

  it('answers 507 when every owner is out of disk space, and 503 when only some are (nothing stays anywhere)', async () => {
    const full = () => Promise.reject(new ShoalError('INSUFFICIENT_STORAGE', 'the node is out of disk space; nothing was stored'));
    for (const owners of [['local', 'a', 'b'], ['local', 'a']]) {
      const c = await cluster();
      for (const o of owners) jest.spyOn(o === 'local' ? c.local.store : c.peer[o].store, 'commit').mockImplementation(full);
      if (owners.length < 3) c.peer.b.state.setMembershipPhase('left'); // b refuses for another reason
      const err = await refusal(c.writes.put('k', body(bytes(2_000)), { contentType: 'x/y' }));
      expect(err.code).toBe(owners.length === 3 ? 'INSUFFICIENT_STORAGE' : 'INSUFFICIENT_REPLICAS');
      expect(c.local.store.get('k')).toBeUndefined();
      expect(c.peer.a.version('k')).toBeUndefined();
      expect(c.peer.b.version('k')).toBeUndefined();
    }
  });

  it('answers 503, not 507, when the one owner that refused for space is not every owner (another is down)', async () => {
    const c = await cluster();
    jest.spyOn(c.peer.a.store, 'commit').mockImplementation(() => Promise.reject(new ShoalError('INSUFFICIENT_STORAGE', 'the node is out of disk space; nothing was stored')));
    c.setStatus('b', 'down');
    const err = await refusal(c.writes.put('k', body(bytes(2_000)), { contentType: 'x/y' }));
    expect(err.code).toBe('INSUFFICIENT_REPLICAS');
    expect(c.local.store.get('k')).toBeUndefined();
  });

  it('answers 503 (not indeterminate) when the owners refuse the write: nothing stays anywhere', async () => {
    const c = await cluster();
    // Both peers were decommissioned after the membership was read: they refuse with NODE_LEFT.
    c.peer.a.state.setMembershipPhase('left');
    c.peer.b.state.setMembershipPhase('left');
    const err = await refusal(c.writes.put('k', body(bytes(30_000)), { contentType: 'x/y' }));
    expect(err.code).toBe('INSUFFICIENT_REPLICAS');
    expect(err.extra).toMatchObject({ indeterminate: false, replicas: 0 });
    expect(c.local.store.get('k')).toBeUndefined();
    expect(c.peer.a.version('k')).toBeUndefined();
    expect(c.hints).toEqual([]);
  });
});
