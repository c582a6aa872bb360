import type { Readable } from 'node:stream';
import type { Entry } from '../storage/entry.js';
import type { ByteRange } from '../storage/range.js';
import { Coalescer, type CoalescerLimits } from './coalescer.js';
import { META_TIMEOUT_MS, PeerAnswerError, type Outcome, type PeerClient, type PeerRef, type PeerUpload, type SendOptions } from './peer-client.js';
import { MAX_BATCHED_ENTRY_BYTES, type BatchItem, type DigestAnswer, type EntryPage, type FenceReply, type PutResult } from './wire.js';

export interface BatchingLimits {
  entries: CoalescerLimits;
  fences: CoalescerLimits;
  versions: CoalescerLimits;
}

/** Caps well under the receiver's (wire.ts MAX_BATCH_ENTRIES, MAX_BATCH_BYTES); one batch of each kind in flight per peer. */
export const DEFAULT_BATCHING: BatchingLimits = {
  entries: { maxItems: 64, maxBytes: 512 * 1024, maxInFlight: 1 },
  fences: { maxItems: 128, maxBytes: 256 * 1024, maxInFlight: 1 },
  versions: { maxItems: 128, maxBytes: 256 * 1024, maxInFlight: 1 },
};

/** After a peer answered a batch route with 404 (it runs the previous release), it is sent single requests this long. */
export const LEGACY_RETRY_MS = 60_000;

type FenceClaim = { key: string; version: string };

/**
 * The {@link PeerClient} the layers above use (protocol 2): small writes, fence proposals and single-key version
 * queries bound for the same peer are coalesced into one request each (see coalescer.ts) — so N=3 small writes cost a
 * fraction of a request each instead of two; everything else passes straight to the transport. Callers see no
 * difference: every entry and claim still gets its own answer or refusal.
 *
 * Rolling upgrades: a peer of the previous release answers the batch routes with 404; it is then sent the same items
 * as single requests (the protocol-1 routes every release keeps), and asked again with a batch after LEGACY_RETRY_MS.
 */
export class BatchingPeerClient implements PeerClient {
  private readonly entries: Coalescer<BatchItem, PutResult>;
  private readonly fences: Coalescer<FenceClaim, FenceReply>;
  private readonly reads: Coalescer<string, Entry | null>;
  /** peer id → until when it is sent single requests */
  private readonly legacy = new Map<string, number>();

  constructor(
    private readonly inner: PeerClient,
    limits: BatchingLimits = DEFAULT_BATCHING,
    onBatch: (kind: 'entries' | 'fences' | 'versions', items: number) => void = () => undefined,
  ) {
    this.entries = new Coalescer((peer, items, timeoutMs) => this.sendEntries(peer, items, timeoutMs), (i) => 256 + (i.data?.length ?? 0), limits.entries, (n) => onBatch('entries', n));
    this.fences = new Coalescer((peer, claims, timeoutMs) => this.sendFences(peer, claims, timeoutMs), (c) => 64 + c.key.length, limits.fences, (n) => onBatch('fences', n));
    this.reads = new Coalescer((peer, keys, timeoutMs) => this.sendVersions(peer, keys, timeoutMs), (k) => 16 + k.length, limits.versions, (n) => onBatch('versions', n));
  }

  putEntry(peer: PeerRef, entry: Entry, body: Readable | Buffer, opts: SendOptions = {}): Promise<PutResult> {
    if (!Buffer.isBuffer(body) || entry.deleted || entry.size > MAX_BATCHED_ENTRY_BYTES || body.length !== entry.size) return this.inner.putEntry(peer, entry, body, opts);
    return this.entries.submit(peer, { entry, data: body }, opts.timeoutMs ?? 0, opts.signal);
  }

  putTombstone(peer: PeerRef, entry: Entry, opts: SendOptions = {}): Promise<PutResult> {
    // A live entry sent without bytes (its blob is already there) keeps its own route, which checks that.
    if (!entry.deleted) return this.inner.putTombstone(peer, entry, opts);
    return this.entries.submit(peer, { entry }, opts.timeoutMs ?? META_TIMEOUT_MS, opts.signal);
  }

  fence(peer: PeerRef, key: string, version: string, timeoutMs: number, reserve?: string, release?: boolean): Promise<FenceReply> {
    // A conditional write's claim reserves (or gives up) the key on the owner: its own request, as before.
    if (reserve !== undefined || release) return this.inner.fence(peer, key, version, timeoutMs, reserve, release);
    return this.fences.submit(peer, { key, version }, timeoutMs);
  }

  versions(peer: PeerRef, keys: string[], timeoutMs = META_TIMEOUT_MS): Promise<(Entry | null)[]> {
    // Many keys already travel in one request (sync, hand-off); a read's single key waits for company.
    if (keys.length !== 1) return this.inner.versions(peer, keys, timeoutMs);
    return this.reads.submit(peer, keys[0], timeoutMs).then((e) => [e]);
  }

  putEntries(peer: PeerRef, items: BatchItem[], opts?: SendOptions): Promise<Outcome<PutResult>[]> {
    return this.inner.putEntries(peer, items, opts);
  }

  fenceMany(peer: PeerRef, claims: FenceClaim[], timeoutMs: number): Promise<Outcome<FenceReply>[]> {
    return this.inner.fenceMany(peer, claims, timeoutMs);
  }

  openUpload(peer: PeerRef, entry: Entry): PeerUpload {
    return this.inner.openUpload(peer, entry);
  }

  openBlob(peer: PeerRef, sha256: string, size: number, range?: ByteRange): Promise<Readable> {
    return this.inner.openBlob(peer, sha256, size, range);
  }

  syncDigests(peer: PeerRef, partitions: string, root: string, recovering: boolean): Promise<DigestAnswer> {
    return this.inner.syncDigests(peer, partitions, root, recovering);
  }

  partitionEntries(peer: PeerRef, partition: number, after: string | undefined, limit: number, recovering: boolean): Promise<EntryPage> {
    return this.inner.partitionEntries(peer, partition, after, limit, recovering);
  }

  scan(peer: PeerRef, prefix: string, after: string | undefined, limit: number): Promise<EntryPage> {
    return this.inner.scan(peer, prefix, after, limit);
  }

  private sendEntries(peer: PeerRef, items: BatchItem[], timeoutMs: number): Promise<Outcome<PutResult>[]> {
    return this.viaBatch(
      peer,
      () => this.inner.putEntries(peer, items, { timeoutMs }),
      () => items.map((i) => (i.entry.deleted ? this.inner.putTombstone(peer, i.entry, { timeoutMs }) : this.inner.putEntry(peer, i.entry, i.data ?? Buffer.alloc(0), { timeoutMs }))),
    );
  }

  private sendFences(peer: PeerRef, claims: FenceClaim[], timeoutMs: number): Promise<Outcome<FenceReply>[]> {
    return this.viaBatch(
      peer,
      () => this.inner.fenceMany(peer, claims, timeoutMs),
      () => claims.map((c) => this.inner.fence(peer, c.key, c.version, timeoutMs)),
    );
  }

  /** The versions route has always taken many keys: no fallback needed, and a refusal refuses every key alike. */
  private async sendVersions(peer: PeerRef, keys: string[], timeoutMs: number): Promise<Outcome<Entry | null>[]> {
    const found = await this.inner.versions(peer, keys, timeoutMs);
    return keys.map((_, i) => ({ ok: true, value: found[i] ?? null }));
  }

  /** The batch route, or — for a peer of the previous release — one request per item. */
  private async viaBatch<T>(peer: PeerRef, batch: () => Promise<Outcome<T>[]>, singles: () => Promise<T>[]): Promise<Outcome<T>[]> {
    const until = this.legacy.get(peer.id);
    if (until === undefined || until <= Date.now()) {
      try {
        const out = await batch();
        this.legacy.delete(peer.id);
        return out;
      } catch (err) {
        // The previous release's answer to a route it lacks (checked against it): 404 ROUTE_NOT_FOUND.
        if (!(err instanceof PeerAnswerError && err.status === 404 && (err.problemCode ?? 'ROUTE_NOT_FOUND') === 'ROUTE_NOT_FOUND')) throw err;
        this.legacy.set(peer.id, Date.now() + LEGACY_RETRY_MS);
      }
    }
    return Promise.all(singles().map((p) => p.then((value): Outcome<T> => ({ ok: true, value }), (error: Error): Outcome<T> => ({ ok: false, error }))));
  }
}
