import { Readable } from 'node:stream';
import { tombstone, type Entry } from '../storage/entry.js';
import { encodeVersion } from '../storage/hlc.js';
import { bytes, cluster, entryOf, hold, readAll, sha, T0 } from './replication.fixture.js';

const version = encodeVersion(T0, 0, 'self');
const base = (key: string): Omit<Entry, 'sha256' | 'size'> => ({ key, version, contentType: 'x/y', updatedAt: T0, deleted: false, meta: { who: 'me' } });

/** A body in chunks that runs `atEnd` once the last chunk was taken (a check that needs the whole body, e.g. S3's Content-MD5). */
function bodyThen(data: Buffer, atEnd: () => void): Readable {
  async function* gen(): AsyncGenerator<Buffer> {
    for (let i = 0; i < data.length; i += 4096) yield data.subarray(i, i + 4096);
    atEnd();
  }
  return Readable.from(gen());
}

describe('ReplicatorService: metadata known only at the end of a streamed body', () => {
  it('adds it to the entry on every owner (the remote ones through the trailer)', async () => {
    const c = await cluster();
    const data = bytes(40_000);
    let digest = '';
    const owners = c.placement.ownersOfKey('k');
    const out = await c.replicator.upload(base('k'), bodyThen(data, () => (digest = sha(data))), {}, owners, 2, () => ({ md5: digest }));
    expect(out.ok).toBe(true);
    expect(out.entry.meta).toEqual({ who: 'me', md5: sha(data) });
    for (const store of [c.local.store, c.peer.a.store, c.peer.b.store]) expect(store.get('k')?.meta).toEqual({ who: 'me', md5: sha(data) });
  });

  it('commits nothing on any owner when the body fails its check at the very end', async () => {
    const c = await cluster();
    const owners = c.placement.ownersOfKey('k');
    const bad = bodyThen(bytes(40_000), () => {
      throw new Error('BadDigest');
    });
    await expect(c.replicator.upload(base('k'), bad, {}, owners, 2, () => ({ md5: 'x' }))).rejects.toThrow(/cut off/); // staging reports a body that failed as cut off
    for (const store of [c.local.store, c.peer.a.store, c.peer.b.store]) expect(store.get('k')).toBeUndefined();
    // Neither owner was asked to finish: the legs were aborted before any trailer.
    expect(c.peer.a.calls).toEqual(['upload k']);
  });
});

describe('ReplicatorService: a write by reference (a copy)', () => {
  it('sends the entry alone to owners holding the blob, and the bytes only to one lacking it', async () => {
    const c = await cluster();
    const data = bytes(50_000);
    const src = entryOf('src', data, encodeVersion(T0 - 1000, 0, 'w'));
    await hold(c.local.store, src, data);
    await c.peer.a.hold(src, data); // b lacks the blob
    const copy: Entry = { ...src, key: 'copy', version };
    let fetched = 0;
    const out = await c.replicator.writeReference(copy, c.placement.ownersOfKey('copy'), 2, async () => {
      fetched++;
      return Readable.from([data]);
    });
    expect(out.ok).toBe(true);
    expect(fetched).toBe(1);
    expect(c.peer.a.calls).toEqual(['tombstone copy']);
    expect(c.peer.b.calls).toEqual(['tombstone copy', 'put copy']);
    for (const store of [c.local.store, c.peer.a.store, c.peer.b.store]) {
      expect(store.get('copy')).toEqual(copy);
      expect(sha(await readAll(store.openRead(copy)))).toBe(sha(data));
    }
    // Deleting the source frees nothing the copy uses.
    await c.local.store.commit(tombstone('src', encodeVersion(T0 + 5000, 0, 'w'), T0 + 5000));
    expect(sha(await readAll(c.local.store.openRead(copy)))).toBe(sha(data));
  });

  it('refuses a commit without bytes of a blob that is not held (checked under the blob lock)', async () => {
    const c = await cluster();
    const data = bytes(50_000);
    await expect(c.local.store.commit(entryOf('k', data, version))).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(c.local.store.get('k')).toBeUndefined();
  });
});
