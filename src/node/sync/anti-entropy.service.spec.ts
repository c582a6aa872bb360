import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { Logger } from '@nestjs/common';
import { BehaviorSubject } from 'rxjs';
import type { NodeConfig } from '../../config/app-config.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { NodeIdentity } from '../identity/node-identity.js';
import type { Member } from '../membership/merge.js';
import type { MembershipService } from '../membership/membership.service.js';
import { PlacementService } from '../placement/placement.service.js';
import type { PeerClient } from '../peer/peer-client.js';
import { NodeStateService } from '../state/node-state.service.js';
import { tombstone, type Entry } from '../storage/entry.js';
import { encodeVersion, ManualClock } from '../storage/hlc.js';
import { createMemoryStorage, type MemoryStorage } from '../storage/memory-store.js';
import { INLINE_MAX_BYTES } from '../storage/staging.js';
import type { ClientLoadService } from '../../common/metrics/client-load.service.js';
import { AntiEntropyService } from './anti-entropy.service.js';

/** What anti-entropy asks of the peer protocol. */
type SyncPeers = Pick<PeerClient, 'syncDigests' | 'partitionEntries' | 'openBlob'>;

const T0 = 1_700_000_000_000;

function member(id: string, status: Member['status'] = 'up'): Member {
  return { id, url: `mem://${id}`, status, lastHeartbeatAt: new Date(T0).toISOString(), freeBytes: 0, files: 0 };
}

/** One node: memory store, its own anti-entropy, and a peer client that calls the other nodes' services in-process. */
class Node {
  readonly calls: string[] = [];
  sync!: AntiEntropyService;
  readonly state = new NodeStateService();

  constructor(
    readonly id: string,
    readonly s: MemoryStorage,
  ) {}

  static async create(id: string, cluster: Map<string, Node>, members: BehaviorSubject<Member[]>, partitionBits = 3): Promise<Node> {
    const config = { role: 'node', partitionBits, replicationFactor: 2, writeQuorum: 1, readQuorum: 1, tombstoneTtlMs: 86_400_000 } as NodeConfig;
    const s = await createMemoryStorage({ clock: new ManualClock(id, T0), config });
    const node = new Node(id, s);
    const self = new NodeIdentity(id, `mem://${id}`);
    const membership = { changes: members.asObservable(), placementMembers: () => members.value } as unknown as MembershipService;
    const placement = new PlacementService(s.config, self, membership);
    const peer = (url: string) => {
      const other = cluster.get(url.slice('mem://'.length));
      if (!other) throw Object.assign(new Error(`connect ECONNREFUSED ${url}`), { code: 'ECONNREFUSED' });
      return other;
    };
    const peers: SyncPeers = {
      syncDigests: async ({ url }, partitions, root, recovering) => {
        node.calls.push('digests');
        return peer(url).sync.answerDigests(partitions, root, recovering);
      },
      partitionEntries: async ({ url }, partition, after, limit, recovering) => {
        node.calls.push(`entries ${partition}`);
        return structuredClone(peer(url).sync.answerEntries(partition, after, limit, recovering));
      },
      openBlob: async ({ url }, sha256, size) => {
        node.calls.push(`blob ${sha256.slice(0, 8)}`);
        return peer(url).s.store.openBlob(sha256, size);
      },
    };
    node.sync = new AntiEntropyService(self, s.store, membership, placement, peers as PeerClient, node.state, s.metrics, { busy: () => false } as ClientLoadService);
    cluster.set(id, node);
    return node;
  }

  async put(key: string, data: Buffer, ms: number, by = this.id): Promise<Entry> {
    const staged = await this.s.store.stage(Readable.from([data]), {});
    const entry: Entry = { key, version: encodeVersion(ms, 0, by), sha256: staged.sha256, size: staged.size, contentType: 'x/y', updatedAt: ms, deleted: false };
    await this.s.store.commit(entry, staged);
    return entry;
  }

  digests(): string[] {
    return Array.from({ length: 8 }, (_, p) => this.s.store.entries.digest(p).toString('hex'));
  }
}

describe('AntiEntropyService', () => {
  let cluster: Map<string, Node>;
  let members: BehaviorSubject<Member[]>;
  let a: Node;
  let b: Node;

  beforeAll(() => Logger.overrideLogger(false));

  beforeEach(async () => {
    cluster = new Map();
    members = new BehaviorSubject([member('a'), member('b')]);
    a = await Node.create('a', cluster, members);
    b = await Node.create('b', cluster, members);
  });

  it('an idle round between equal nodes is one digest request, whatever they hold', async () => {
    for (let i = 0; i < 20; i++) {
      const e = await a.put(`k${i}`, Buffer.from(`v${i}`), T0 + i);
      // b holds the same entries with their bytes (a commit without them is refused).
      await b.s.store.commit(e, await b.s.store.stage(Readable.from([Buffer.from(`v${i}`)]), {}));
    }
    const r = await a.sync.round();
    expect(a.calls).toEqual(['digests']);
    expect(r).toMatchObject({ peers: 1, differing: 0, pulled: 0, bytes: 0 });
    expect(r.covered.size).toBe(8);
  });

  it('pulls what it lacks — inline and file blobs, tombstones — until the digests agree', async () => {
    const big = randomBytes(INLINE_MAX_BYTES + 100);
    const bigEntry = await b.put('big', big, T0 + 1);
    await b.put('small', Buffer.from('small'), T0 + 2);
    await b.put('gone', Buffer.from('x'), T0 + 3);
    await b.s.store.commit(tombstone('gone', encodeVersion(T0 + 4, 0, 'b'), T0 + 4));
    const r = await a.sync.round();
    expect(r.pulled).toBe(3);
    expect(r.bytes).toBe(big.length + 'small'.length);
    expect(r.differing).toBeGreaterThan(0);
    expect(a.digests()).toEqual(b.digests());
    expect(a.s.store.get('big')).toEqual(bigEntry);
    expect(a.s.store.get('gone')?.deleted).toBe(true);
    expect(await a.s.blobs.has(bigEntry.sha256)).toBe(true);
    const known = new Set([...r.knownByPeers.values()].flatMap((s) => [...s]));
    expect(known).toEqual(new Set(['big', 'small', 'gone']));
    // A second round finds nothing left to do.
    a.calls.length = 0;
    expect(await a.sync.round()).toMatchObject({ differing: 0, pulled: 0 });
    expect(a.calls).toEqual(['digests']);
  });

  it('never takes an older version, and the peer repairs itself only in its own round', async () => {
    const old = await b.put('k', Buffer.from('old'), T0 + 1);
    const newer = await a.put('k', Buffer.from('new'), T0 + 2);
    await a.sync.round();
    expect(a.s.store.get('k')).toEqual(newer);
    expect(b.s.store.get('k')).toEqual(old);
    await b.sync.round();
    expect(b.s.store.get('k')).toEqual(newer);
    expect(a.digests()).toEqual(b.digests());
  });

  it('fetches no bytes for content it already holds under another key', async () => {
    const data = randomBytes(INLINE_MAX_BYTES + 1);
    await a.put('mine', data, T0 + 1);
    await b.put('theirs', data, T0 + 2);
    const r = await a.sync.round();
    expect(r.pulled).toBe(1);
    expect(a.calls.filter((c) => c.startsWith('blob'))).toEqual([]);
    expect(a.s.index.refCount(a.s.store.get('theirs')!.sha256)).toBe(2);
  });

  it('pages through a partition longer than one answer', async () => {
    cluster = new Map();
    a = await Node.create('a', cluster, members, 1);
    b = await Node.create('b', cluster, members, 1);
    // Two partitions of about 1050 entries each; an answer holds 1000.
    for (let i = 0; i < 2100; i++) await b.s.store.commit(tombstone(`k${String(i).padStart(4, '0')}`, encodeVersion(T0 + i, 0, 'b'), T0));
    const r = await a.sync.round();
    expect(r.pulled).toBe(2100);
    const pages = [0, 1].map((p) => Math.max(1, Math.ceil([...b.s.store.entries.scanPartition(p)].length / 1000)));
    expect(pages.every((n) => n >= 2)).toBe(true); // both partitions hold more than one page
    expect(a.calls.filter((c) => c.startsWith('entries'))).toHaveLength(pages[0] + pages[1]);
    expect(a.s.store.entries.entryCount()).toBe(2100);
  });

  it('a recovering node answers another recovering node, but nothing to a ready one', async () => {
    await b.put('k', Buffer.from('v'), T0 + 1);
    b.state.set('recovering');
    const refused = await a.sync.round();
    expect(refused).toMatchObject({ peers: 0, pulled: 0 });
    expect(refused.covered.size).toBe(0);
    expect(a.s.store.get('k')).toBeUndefined();

    a.state.set('recovering');
    expect((await a.sync.round()).pulled).toBe(1);
  });

  it('compares only with co-owners that are up; a partition it alone owns counts as covered', async () => {
    await b.put('k', Buffer.from('v'), T0 + 1);
    members.next([member('a'), member('b', 'down')]);
    const r = await a.sync.round();
    expect(a.calls).toEqual([]);
    expect(r.peers).toBe(0);
    expect(r.covered.size).toBe(0); // b still owns them with a: not compared, so not covered

    members.next([member('a')]);
    expect((await a.sync.round()).covered.size).toBe(8);
  });

  it('a co-owner that cannot be reached fails only its share of the round', async () => {
    cluster.delete('b');
    const r = await a.sync.round();
    expect(r.peers).toBe(0);
    expect(r.covered.size).toBe(0);
  });
});
