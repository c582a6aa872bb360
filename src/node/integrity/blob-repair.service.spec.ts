import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { Logger } from '@nestjs/common';
import { BehaviorSubject } from 'rxjs';
import { NodeIdentity } from '../identity/node-identity.js';
import type { Member } from '../membership/merge.js';
import type { MembershipService } from '../membership/membership.service.js';
import { PlacementService } from '../placement/placement.service.js';
import type { PeerClient } from '../peer/peer-client.js';
import type { Entry } from '../storage/entry.js';
import { createMemoryStorage, drainStream, type MemoryStorage } from '../storage/memory-store.js';
import { INLINE_MAX_BYTES } from '../storage/staging.js';
import { NodeStateService } from '../state/node-state.service.js';
import { BlobRepairService } from './blob-repair.service.js';

const member = (id: string): Member => ({ id, url: `mem://${id}`, status: 'up', lastHeartbeatAt: '', freeBytes: 0, files: 0 });

const drain = async (stream: Readable) => (await drainStream(stream)).error;

/** Corrupt reads reach blob repair through the store's `corrupted` events, not a hook the repair service sets. */
describe('BlobRepairService', () => {
  let local: MemoryStorage;
  let healthy: MemoryStorage;
  let fetched: string[];
  let repair: BlobRepairService;

  beforeAll(() => Logger.overrideLogger(false));

  beforeEach(async () => {
    local = await createMemoryStorage({ nodeId: 'a', config: { replicationFactor: 2, writeQuorum: 1, readQuorum: 1 } });
    healthy = await createMemoryStorage({ nodeId: 'b' });
    fetched = [];
    const membership = { changes: new BehaviorSubject([member('a'), member('b')]).asObservable() } as unknown as MembershipService;
    const self = new NodeIdentity('a', 'mem://a');
    const peers: Pick<PeerClient, 'versions' | 'openBlob'> = {
      versions: async (_peer, keys) => keys.map((k) => healthy.store.get(k) ?? null),
      openBlob: async (_peer, sha256, size) => {
        fetched.push(sha256);
        return healthy.store.openBlob(sha256, size);
      },
    };
    repair = new BlobRepairService(self, local.store, new PlacementService(local.config, self, membership), peers as PeerClient, new NodeStateService(), local.metrics);
  });

  afterEach(() => repair.onModuleDestroy());

  async function putBoth(key: string, data: Buffer): Promise<Entry> {
    let entry: Entry | undefined;
    for (const s of [local, healthy]) {
      const staged = await s.store.stage(Readable.from([data]), {});
      entry ??= { key, version: local.store.clock.now(), sha256: staged.sha256, size: staged.size, contentType: 'x/y', updatedAt: 1, deleted: false };
      await s.store.commit(entry, staged);
    }
    return entry!;
  }

  it('a read that finds a blob corrupt makes repair re-fetch it from an owner with the same content', async () => {
    const data = randomBytes(INLINE_MAX_BYTES * 2);
    const entry = await putBoth('k', data);
    const bad = Buffer.from(data);
    bad[0] ^= 0xff;
    local.blobs.tamper(entry.sha256, bad);

    expect(await drain(local.store.openRead(entry))).toBeInstanceOf(Error);
    await new Promise((r) => setTimeout(r, 20)); // quarantine, event, fetch, restore
    expect(fetched).toEqual([entry.sha256]);
    expect(await drain(local.store.openRead(entry))).toBeUndefined();
    expect(local.blobs.quarantined.get(entry.sha256)?.equals(bad)).toBe(true);
  });

  it('stops listening once destroyed', async () => {
    const entry = await putBoth('k', randomBytes(INLINE_MAX_BYTES * 2));
    local.blobs.tamper(entry.sha256, Buffer.from('rot'));
    repair.onModuleDestroy();
    await drain(local.store.openRead(entry));
    await new Promise((r) => setTimeout(r, 20));
    expect(fetched).toEqual([]);
  });
});
