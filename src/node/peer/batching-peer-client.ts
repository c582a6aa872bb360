import type { Readable } from 'node:stream';
import type { Entry } from '../storage/entry.js';
import type { ByteRange } from '../storage/range.js';
import { Coalescer, type CoalescerLimits } from './coalescer.js';
import { META_TIMEOUT_MS, PeerAnswerError, type Outcome, type PeerClient, type PeerRef, type PeerUpload, type SendOptions, type WriteBatchOutcome } from './peer-client.js';
import { MAX_BATCHED_ENTRY_BYTES, type BatchItem, type DigestAnswer, type EntryPage, type FenceClaim, type FenceReply, type PutResult } from './wire.js';

export interface BatchingLimits {
  /** fence claims and small entries, together */
  writes: CoalescerLimits;
  versions: CoalescerLimits;
}

/** Caps well under the receiver's (wire.ts MAX_BATCH_ENTRIES, MAX_BATCH_BYTES); two write batches and one version query in flight per peer. */
export const DEFAULT_BATCHING: BatchingLimits = {
  writes: { maxItems: 128, maxBytes: 512 * 1024, maxInFlight: 2 },
  versions: { maxItems: 128, maxBytes: 256 * 1024, maxInFlight: 1 },
};

/** After a peer answered a batch route with 404 (it runs an earlier release), it is sent the older requests this long. */
export const LEGACY_RETRY_MS = 60_000;

/** A write's call to one owner: the claim of its version (fencing), or its entry once fenced. */
type WriteItem = { claim: FenceClaim; put?: undefined } | { put: BatchItem; claim?: undefined };

/**
 * The {@link PeerClient} the layers above use: the fence proposals of new writes and the small entries of fenced
 * ones bound for the same peer travel together in one request (protocol 3, wire.ts WRITE_BATCH_PATH), and reads'
 * single-key version queries in another (see coalescer.ts) — so N=3 small writes cost a fraction of a request each
 * instead of two; everything else passes straight to the transport. Callers see no difference: every entry and
 * claim still gets its own answer or refusal, within its own deadline.
 *
 * Rolling upgrades: a peer of protocol 2 answers the write batch route with 404; it is then sent the claims and the
 * entries on the two batch routes it knows, side by side. A peer of protocol 1 answers those with 404 too; it is
 * then sent single requests (the protocol-1 routes every release keeps). Either is asked again after LEGACY_RETRY_MS.
 */
export class BatchingPeerClient implements PeerClient {
  private readonly writes: Coalescer<WriteItem, PutResult | FenceReply>;
  private readonly reads: Coalescer<string, Entry | null>;
  /** peer id → until when it is sent the protocol-2 batches instead of write batches */
  private readonly protocol2 = new Map<string, number>();
  /** peer id → until when it is sent single requests */
  private readonly legacy = new Map<string, number>();

  constructor(
    private readonly inner: PeerClient,
    limits: BatchingLimits = DEFAULT_BATCHING,
    private readonly onBatch: (kind: 'entries' | 'fences' | 'versions', items: number) => void = () => undefined,
  ) {
    this.writes = new Coalescer((peer, items, timeoutMs) => this.sendWrites(peer, items, timeoutMs), (i) => (i.claim ? 64 + i.claim.key.length : 256 + (i.put.data?.length ?? 0)), limits.writes);
    this.reads = new Coalescer((peer, keys, timeoutMs) => this.sendVersions(peer, keys, timeoutMs), (k) => 16 + k.length, limits.versions, (n) => onBatch('versions', n));
  }

  putEntry(peer: PeerRef, entry: Entry, body: Readable | Buffer, opts: SendOptions = {}): Promise<PutResult> {
    if (!Buffer.isBuffer(body) || entry.deleted || entry.size > MAX_BATCHED_ENTRY_BYTES || body.length !== entry.size) return this.inner.putEntry(peer, entry, body, opts);
    return this.writes.submit(peer, { put: { entry, data: body } }, opts.timeoutMs ?? 0, opts.signal) as Promise<PutResult>;
  }

  putTombstone(peer: PeerRef, entry: Entry, opts: SendOptions = {}): Promise<PutResult> {
    // A live entry sent without bytes (its blob is already there) keeps its own route, which checks that.
    if (!entry.deleted) return this.inner.putTombstone(peer, entry, opts);
    return this.writes.submit(peer, { put: { entry } }, opts.timeoutMs ?? META_TIMEOUT_MS, opts.signal) as Promise<PutResult>;
  }

  fence(peer: PeerRef, key: string, version: string, timeoutMs: number, reserve?: string, release?: boolean): Promise<FenceReply> {
    // A conditional write's claim reserves (or gives up) the key on the owner: its own request, as before.
    if (reserve !== undefined || release) return this.inner.fence(peer, key, version, timeoutMs, reserve, release);
    return this.writes.submit(peer, { claim: { key, version } }, timeoutMs) as Promise<FenceReply>;
  }

  versions(peer: PeerRef, keys: string[], opts: SendOptions = {}): Promise<(Entry | null)[]> {
    // Many keys already travel in one request (sync, hand-off); a read's single key waits for company. A query that
    // can be aborted (background work, stopped at SIGTERM) goes alone: a shared batch is not one caller's to abort.
    if (keys.length !== 1 || opts.signal) return this.inner.versions(peer, keys, opts);
    return this.reads.submit(peer, keys[0], opts.timeoutMs ?? META_TIMEOUT_MS).then((e) => [e]);
  }

  putEntries(peer: PeerRef, items: BatchItem[], opts?: SendOptions): Promise<Outcome<PutResult>[]> {
    return this.inner.putEntries(peer, items, opts);
  }

  fenceMany(peer: PeerRef, claims: FenceClaim[], timeoutMs: number): Promise<Outcome<FenceReply>[]> {
    return this.inner.fenceMany(peer, claims, timeoutMs);
  }

  writeBatch(peer: PeerRef, claims: FenceClaim[], items: BatchItem[], opts?: SendOptions): Promise<WriteBatchOutcome> {
    return this.inner.writeBatch(peer, claims, items, opts);
  }

  openUpload(peer: PeerRef, entry: Entry): PeerUpload {
    return this.inner.openUpload(peer, entry);
  }

  openBlob(peer: PeerRef, sha256: string, size: number, range?: ByteRange, opts?: SendOptions): Promise<Readable> {
    return this.inner.openBlob(peer, sha256, size, range, opts);
  }

  syncDigests(peer: PeerRef, partitions: string, root: string, recovering: boolean, opts?: SendOptions): Promise<DigestAnswer> {
    return this.inner.syncDigests(peer, partitions, root, recovering, opts);
  }

  partitionEntries(peer: PeerRef, partition: number, after: string | undefined, limit: number, recovering: boolean, opts?: SendOptions): Promise<EntryPage> {
    return this.inner.partitionEntries(peer, partition, after, limit, recovering, opts);
  }

  scan(peer: PeerRef, prefix: string, after: string | undefined, limit: number): Promise<EntryPage> {
    return this.inner.scan(peer, prefix, after, limit);
  }

  /** One coalesced batch: its claims and entries in one write batch, answered in the order they were queued. */
  private async sendWrites(peer: PeerRef, items: WriteItem[], timeoutMs: number): Promise<Outcome<PutResult | FenceReply>[]> {
    const claims = items.flatMap((i) => (i.claim ? [i.claim] : []));
    const puts = items.flatMap((i) => (i.put ? [i.put] : []));
    if (claims.length > 0) this.onBatch('fences', claims.length);
    if (puts.length > 0) this.onBatch('entries', puts.length);
    const { answers, results } = await this.writeBatchOrOlder(peer, claims, puts, timeoutMs);
    let a = 0;
    let r = 0;
    return items.map((i) => (i.claim ? answers[a++] : results[r++]));
  }

  /** The write batch route, or — for a peer of protocol 2 — the claims and the entries on their own routes. */
  private writeBatchOrOlder(peer: PeerRef, claims: FenceClaim[], puts: BatchItem[], timeoutMs: number): Promise<WriteBatchOutcome> {
    return this.newerRoute(this.protocol2, peer, () => this.inner.writeBatch(peer, claims, puts, { timeoutMs }), async () => {
      // Side by side, each failing on its own.
      const [answers, results] = await Promise.all([
        claims.length > 0 ? allFailOnError(claims.length, () => this.sendFences(peer, claims, timeoutMs)) : [],
        puts.length > 0 ? allFailOnError(puts.length, () => this.sendEntries(peer, puts, timeoutMs)) : [],
      ]);
      return { answers, results };
    });
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
    const found = await this.inner.versions(peer, keys, { timeoutMs });
    return keys.map((_, i) => ({ ok: true, value: found[i] ?? null }));
  }

  /** The batch route, or — for a peer of protocol 1 — one request per item. */
  private viaBatch<T>(peer: PeerRef, batch: () => Promise<Outcome<T>[]>, singles: () => Promise<T>[]): Promise<Outcome<T>[]> {
    return this.newerRoute(this.legacy, peer, batch, () => Promise.all(singles().map((p) => p.then((value): Outcome<T> => ({ ok: true, value }), (error: Error): Outcome<T> => ({ ok: false, error })))));
  }

  /**
   * `newer()` unless `peer` answered its route with 404 less than LEGACY_RETRY_MS ago (`marks` remembers when);
   * `older()` for such a peer, and in place of a 404.
   */
  private async newerRoute<T>(marks: Map<string, number>, peer: PeerRef, newer: () => Promise<T>, older: () => Promise<T>): Promise<T> {
    const until = marks.get(peer.id);
    if (until === undefined || until <= Date.now()) {
      try {
        const out = await newer();
        marks.delete(peer.id);
        return out;
      } catch (err) {
        if (!routeMissing(err)) throw err;
        marks.set(peer.id, Date.now() + LEGACY_RETRY_MS);
      }
    }
    return older();
  }
}

/** An earlier release's answer to a route it lacks (checked against it): 404 ROUTE_NOT_FOUND. */
function routeMissing(err: unknown): boolean {
  return err instanceof PeerAnswerError && err.status === 404 && (err.problemCode ?? 'ROUTE_NOT_FOUND') === 'ROUTE_NOT_FOUND';
}

/** Outcomes of a batch call; a failure of the whole request fails each of its `n` items with it. */
async function allFailOnError<T>(n: number, send: () => Promise<Outcome<T>[]>): Promise<Outcome<T>[]> {
  try {
    return await send();
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    return Array.from({ length: n }, (): Outcome<T> => ({ ok: false, error }));
  }
}
