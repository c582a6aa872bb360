import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { BehaviorSubject } from 'rxjs';
import type { NodeConfig } from '../../config/app-config.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { NodeIdentity } from '../identity/node-identity.js';
import type { Member } from '../membership/merge.js';
import type { MembershipService } from '../membership/membership.service.js';
import { BatchingPeerClient } from '../peer/batching-peer-client.js';
import { FakePeerClient, holdIn, type FakePeer } from '../peer/fake-peer-client.js';
import type { PeerClient } from '../peer/peer-client.js';
import { PlacementService } from '../placement/placement.service.js';
import { NodeStateService } from '../state/node-state.service.js';
import type { Entry } from '../storage/entry.js';
import { encodeVersion, ManualClock, type Version } from '../storage/hlc.js';
import { createMemoryStorage, drainStream, type MemoryStorage } from '../storage/memory-store.js';
import { DeliveryService } from './delivery.service.js';
import { FenceService } from './fence.service.js';
import type { HandoffService } from './handoff.service.js';
import { ReadCoordinatorService } from './read-coordinator.service.js';
import { ReadRepairService } from './read-repair.service.js';
import { ReplicatorService } from './replicator.service.js';
import { WriteAdmissionService } from './write-admission.service.js';
import { WriteCoordinatorService } from './write-coordinator.service.js';

/** Wall time of every clock in these specs (fixed: ManualClock), November 2023. */
export const T0 = 1_700_000_000_000;

export interface Cluster {
  config: NodeConfig;
  self: NodeIdentity;
  /** the coordinator's own memory store and fixed clock */
  local: MemoryStorage;
  clock: ManualClock;
  peers: FakePeerClient;
  /** what the services call: the fake peers, behind the batching client when the cluster was built with `batching` */
  client: PeerClient;
  /** the other owners by id */
  peer: Record<string, FakePeer>;
  /** the membership the placement sees: change a status with {@link setStatus} */
  membership: BehaviorSubject<Member[]>;
  state: NodeStateService;
  metrics: MetricsService;
  /** hints the replicator left for owners that missed a write, in order */
  hints: { owner: string; entry: Entry }[];
  placement: PlacementService;
  delivery: DeliveryService;
  replicator: ReplicatorService;
  fence: FenceService;
  readRepair: ReadRepairService;
  reads: ReadCoordinatorService;
  writes: WriteCoordinatorService;
  setStatus(id: string, status: Member['status']): void;
}

export const member = (id: string, status: Member['status'] = 'up'): Member => ({ id, url: `http://${id}.test`, status, lastHeartbeatAt: new Date(T0).toISOString(), freeBytes: 0, files: 0 });

/**
 * A coordinator node (`self`) wired from the real replication services over a memory store, a fixed clock and a
 * FakePeerClient whose peers are memory stores served by the real owner code. `others` are the other members; with
 * `selfOwner: false` the coordinator is a member that owns nothing (N = the others). Nothing touches a disk or socket.
 */
export async function cluster(opts: { others?: string[]; n?: number; w?: number; r?: number; selfOwner?: boolean; config?: Partial<NodeConfig>; batching?: boolean } = {}): Promise<Cluster> {
  const others = opts.others ?? ['a', 'b'];
  const selfOwner = opts.selfOwner ?? true;
  const n = opts.n ?? 3;
  const config = { role: 'node', partitionBits: 4, replicationFactor: n, writeQuorum: opts.w ?? 2, readQuorum: opts.r ?? 2, maxClockSkewMs: 60_000, ...opts.config } as NodeConfig;
  const self = new NodeIdentity('self', 'http://self.test');
  const clock = new ManualClock('self', T0);
  const metrics = new MetricsService();
  const local = await createMemoryStorage({ nodeId: 'self', clock, metrics, config });
  const peers = new FakePeerClient({ partitionBits: config.partitionBits });
  const client: PeerClient = opts.batching ? new BatchingPeerClient(peers) : peers;
  const peer: Record<string, FakePeer> = {};
  for (const id of others) peer[id] = await peers.add(id);
  // A coordinator that owns nothing is `leaving` in the membership: it places nothing on itself.
  const membership = new BehaviorSubject<Member[]>([member('self', selfOwner ? 'up' : 'leaving'), ...others.map((id) => member(id))]);
  const state = new NodeStateService();
  const placement = new PlacementService(config, self, { changes: membership } as unknown as MembershipService);
  const hints: Cluster['hints'] = [];
  const handoff = { hint: async (owner: string, entry: Entry) => void hints.push({ owner, entry }) } as unknown as HandoffService;
  const delivery = new DeliveryService(local.store, client, metrics);
  const replicator = new ReplicatorService(self, local.store, client, delivery, handoff, metrics);
  const fence = new FenceService(self, local.store, client, state, metrics);
  const readRepair = new ReadRepairService(self, local.store, client, delivery, state, metrics);
  const reads = new ReadCoordinatorService(self, local.store, placement, client, state, readRepair, metrics);
  const admission = new WriteAdmissionService(config, self, placement, state);
  const writes = new WriteCoordinatorService(admission, local.store, fence, replicator, reads);
  const setStatus = (id: string, status: Member['status']) => membership.next(membership.value.map((m) => (m.id === id ? { ...m, status } : m)));
  return { config, self, local, clock, peers, client, peer, membership, state, metrics, hints, placement, delivery, replicator, fence, readRepair, reads, writes, setStatus };
}

/** Deterministic bytes. */
export function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
}

export const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A client body in chunks that records whether anything read it; `onChunk` runs after each chunk is taken. */
export function body(data: Buffer, chunk = 4096, onChunk?: (i: number) => void): Readable & { touched: () => boolean } {
  let touched = false;
  async function* gen(): AsyncGenerator<Buffer> {
    touched = true;
    for (let i = 0, k = 0; i < data.length; i += chunk, k++) {
      yield data.subarray(i, i + chunk);
      onChunk?.(k);
    }
  }
  return Object.assign(Readable.from(gen(), { objectMode: false }), { touched: () => touched });
}

/** Everything a stream gives; rejects with the stream's error. */
export async function readAll(stream: Readable): Promise<Buffer> {
  const { data, error } = await drainStream(stream);
  if (error) throw error;
  return data;
}

/** Lets background work (post-write bookkeeping, read-repair) run: resolves once `check` holds, or fails after 2 s. */
export async function eventually(check: () => boolean | Promise<boolean>, what = 'condition'): Promise<void> {
  const until = Date.now() + 2000;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** A live entry of `data` at `version`, as an earlier write would have left it. */
export function entryOf(key: string, data: Buffer, version: string): Entry {
  return { key, version, sha256: sha(data), size: data.length, contentType: 'application/octet-stream', updatedAt: T0, deleted: false };
}

/** Stores an entry in a store (the coordinator's own, say) as an earlier write would have left it. */
export const hold = holdIn;

/** A version written at T0 + `ms` by `node`. */
export const versionAt = (ms: number, node = 'w'): Version => encodeVersion(T0 + ms, 0, node);

/** The sum of a counter's values in the cluster's metrics registry. */
export async function counter(c: Pick<Cluster, 'metrics'>, name: string): Promise<number> {
  const m = c.metrics.registry.getSingleMetric(name) as unknown as { get(): Promise<{ values: { value: number }[] }> } | undefined;
  if (!m) throw new Error(`no metric ${name}`);
  return (await m.get()).values.reduce((n, x) => n + x.value, 0);
}
