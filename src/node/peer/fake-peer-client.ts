import { Readable } from 'node:stream';
import type { NodeConfig } from '../../config/app-config.js';
import { ShoalError } from '../../common/errors.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { NodeStateService } from '../state/node-state.service.js';
import type { Entry, EntryMeta } from '../storage/entry.js';
import type { LocalStoreService } from '../storage/local-store.service.js';
import { createMemoryStorage, type MemoryStorage } from '../storage/memory-store.js';
import type { ByteRange } from '../storage/range.js';
import { InternalService } from './internal.service.js';
import { outcomesOf, PeerAnswerError, type Outcome, type PeerClient, type PeerRef, type PeerUpload, type SendOptions, type WriteBatchOutcome } from './peer-client.js';
import type { SyncAnswers } from './sync-answers.js';
import { encodeEntry, encodeEntryBatch, encodeMetaTrailer, encodeWriteBatch, META_TRAILER, SHA_TRAILER, SIZE_TRAILER, type BatchItem, type DigestAnswer, type EntryPage, type FenceClaim, type FenceReply, type PutResult } from './wire.js';

/**
 * One peer of a {@link FakePeerClient}: a memory store served by the real owner side of the protocol
 * (peer/internal.service.ts) — bytes re-hashed, last writer wins, fences answered, NODE_LEFT and NOT_READY refusals —
 * plus switches for the faults specs need. Only the socket is missing.
 */
export class FakePeer {
  /** When set, every call fails with it, as with a peer that cannot be reached. */
  down?: Error;
  /** When set, every answer waits for it (a slow owner, a straggler). */
  gate?: Promise<unknown>;
  /** Serves anti-entropy requests, when a spec gives it one (e.g. the peer's own AntiEntropyService). */
  sync?: SyncAnswers;
  /** A node of protocol 1: the batch routes answer 404 (it knows only the single-item ones). */
  legacy = false;
  /** A node of protocol 2: the write batch route answers 404 (it knows the entry and fence batches). */
  protocol2 = false;
  /**
   * Every call, in order: `fence k`, `fences k,…`, `batch k,…`, `writes c,…|k,…` (claims | entries), `put k`,
   * `tombstone k`, `versions k,…`, `blob sha`, `upload k`, `scan p`, `sync …`.
   */
  readonly calls: string[] = [];

  constructor(
    readonly id: string,
    readonly storage: MemoryStorage,
    /** its lifecycle: `set('recovering')`, `setMembershipPhase('left')` make it refuse as a real one would */
    readonly state: NodeStateService,
    readonly internal: InternalService,
  ) {}

  get store(): LocalStoreService {
    return this.storage.store;
  }

  /** Stores an entry as if it had been written here earlier (its bytes, for a live one). */
  hold(entry: Entry, data?: Buffer): Promise<void> {
    return holdIn(this.store, entry, data);
  }

  /** The version held for a key, if any. */
  version(key: string): string | undefined {
    return this.store.get(key)?.version;
  }

  async answer<T>(call: string, fn: () => T | Promise<T>): Promise<T> {
    this.calls.push(call);
    if (this.gate) await this.gate;
    if (this.down) throw this.down;
    try {
      return await fn();
    } catch (err) {
      // Over HTTP an owner's ShoalError arrives as a status and a problem code.
      if (err instanceof ShoalError) throw new PeerAnswerError(err.status, err.code);
      throw err;
    }
  }
}

/** Stores an entry (with its bytes, for a live one) in a store, as an earlier write would have left it. */
export async function holdIn(store: LocalStoreService, entry: Entry, data?: Buffer): Promise<void> {
  const staged = data ? await store.stage(Readable.from([data]), { expectedSha256: entry.sha256, declaredLength: entry.size }) : undefined;
  await store.commit(entry, staged);
}

/** Connection refused, as a socket error carries it. */
export function unreachable(id: string): Error {
  return Object.assign(new Error(`connect ECONNREFUSED (${id})`), { code: 'ECONNREFUSED' });
}

/**
 * A {@link PeerClient} for specs: peers are {@link FakePeer}s (id → memory store) added with {@link add}; a peer never
 * added is unreachable. Nothing touches a disk or a socket, and answers are asynchronous, as over the network.
 */
export class FakePeerClient implements PeerClient {
  readonly peers = new Map<string, FakePeer>();

  constructor(private readonly config: Partial<NodeConfig> = {}) {}

  /** A new peer with an empty memory store (`nodeId` = `id`, so its versions name it). */
  async add(id: string): Promise<FakePeer> {
    const metrics = new MetricsService();
    const storage = await createMemoryStorage({ nodeId: id, metrics, config: { maxClockSkewMs: 60_000, ...this.config } });
    const state = new NodeStateService();
    const peer = new FakePeer(id, storage, state, new InternalService(storage.config, storage.store, state, metrics));
    this.peers.set(id, peer);
    return peer;
  }

  peer(id: string): FakePeer {
    const p = this.peers.get(id);
    if (!p) throw new Error(`FakePeerClient: no peer ${id} was added`);
    return p;
  }

  private of(ref: PeerRef): FakePeer {
    const p = this.peers.get(ref.id);
    if (!p) throw unreachable(ref.id);
    return p;
  }

  async putEntry(ref: PeerRef, entry: Entry, body: Readable | Buffer, opts: SendOptions = {}): Promise<PutResult> {
    const p = this.of(ref);
    return p.answer(`put ${entry.key}`, () => {
      if (opts.signal?.aborted) throw opts.signal.reason instanceof Error ? opts.signal.reason : new Error('aborted');
      return p.internal.receiveEntry(encodeEntry(entry), withTrailers(Buffer.isBuffer(body) ? Readable.from([body]) : body, {}));
    });
  }

  openUpload(ref: PeerRef, entry: Entry): PeerUpload {
    return new FakeUpload(ref.id, this.peers.get(ref.id), entry);
  }

  async putTombstone(ref: PeerRef, entry: Entry): Promise<PutResult> {
    const p = this.of(ref);
    return p.answer(`tombstone ${entry.key}`, () => p.internal.applyEntry(entry));
  }

  async fence(ref: PeerRef, key: string, version: string, _timeoutMs?: number, reserve?: string, release?: boolean): Promise<FenceReply> {
    const p = this.of(ref);
    return p.answer(`fence ${key}`, () => p.internal.fence(key, version, reserve, release));
  }

  async putEntries(ref: PeerRef, items: BatchItem[], opts: SendOptions = {}): Promise<Outcome<PutResult>[]> {
    const p = this.of(ref);
    return p.answer(`batch ${items.map((i) => i.entry.key).join(',')}`, async () => {
      if (p.legacy) throw new ShoalError('ROUTE_NOT_FOUND', 'Cannot POST /internal/entries/batch');
      if (opts.signal?.aborted) throw opts.signal.reason instanceof Error ? opts.signal.reason : new Error('aborted');
      // Through the wire encoding, as over HTTP: the owner decodes the frame it would receive.
      return outcomesOf<PutResult>((await p.internal.receiveBatch(encodeEntryBatch(items))).results, items.length);
    });
  }

  async fenceMany(ref: PeerRef, claims: FenceClaim[]): Promise<Outcome<FenceReply>[]> {
    const p = this.of(ref);
    return p.answer(`fences ${claims.map((c) => c.key).join(',')}`, async () => {
      if (p.legacy) throw new ShoalError('ROUTE_NOT_FOUND', 'Cannot POST /internal/fence/batch');
      return outcomesOf<FenceReply>((await p.internal.fenceMany(claims)).answers, claims.length);
    });
  }

  async writeBatch(ref: PeerRef, claims: FenceClaim[], items: BatchItem[], opts: SendOptions = {}): Promise<WriteBatchOutcome> {
    const p = this.of(ref);
    return p.answer(`writes ${claims.map((c) => c.key).join(',')}|${items.map((i) => i.entry.key).join(',')}`, async () => {
      if (p.legacy || p.protocol2) throw new ShoalError('ROUTE_NOT_FOUND', 'Cannot POST /internal/writes/batch');
      if (opts.signal?.aborted) throw opts.signal.reason instanceof Error ? opts.signal.reason : new Error('aborted');
      const answer = await p.internal.receiveWrites(encodeWriteBatch(claims, items));
      return { answers: outcomesOf<FenceReply>(answer.answers, claims.length), results: outcomesOf<PutResult>(answer.results, items.length) };
    });
  }

  async versions(ref: PeerRef, keys: string[]): Promise<(Entry | null)[]> {
    const p = this.of(ref);
    return p.answer(`versions ${keys.join(',')}`, () => p.internal.versions(keys).entries);
  }

  async openBlob(ref: PeerRef, sha: string, _size: number, range?: ByteRange): Promise<Readable> {
    const p = this.of(ref);
    return p.answer(`blob ${sha}`, async () => (await p.internal.openBlob(sha, range ? `bytes=${range.start}-${range.end}` : undefined)).stream);
  }

  async syncDigests(ref: PeerRef, partitions: string, root: string, recovering: boolean): Promise<DigestAnswer> {
    const p = this.of(ref);
    return p.answer('sync digests', () => syncOf(p).answerDigests(partitions, root, recovering));
  }

  async partitionEntries(ref: PeerRef, partition: number, after: string | undefined, limit: number, recovering: boolean): Promise<EntryPage> {
    const p = this.of(ref);
    return p.answer(`sync partition ${partition}`, () => syncOf(p).answerEntries(partition, after, limit, recovering));
  }

  async scan(ref: PeerRef, prefix: string, after: string | undefined, limit: number): Promise<EntryPage> {
    const p = this.of(ref);
    return p.answer(`scan ${prefix}`, () => p.internal.scan(prefix, after, limit));
  }
}

/**
 * A pipelined leg into a FakePeer: chunks are collected while the body flows, then handed to the owner's real
 * receiving code with the trailers, as the HTTP leg does. A peer that is down breaks the leg at once; one that goes
 * down while the body flows breaks it at the next chunk.
 */
class FakeUpload implements PeerUpload {
  private readonly chunks: Buffer[] = [];
  failed?: Error;

  constructor(
    readonly peerId: string,
    private readonly p: FakePeer | undefined,
    private readonly entry: Entry,
  ) {
    p?.calls.push(`upload ${entry.key}`);
    if (!p) this.failed = unreachable(peerId);
    else if (p.down) this.failed = p.down;
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.failed) return;
    if (this.p?.down) {
      this.failed = this.p.down;
      return;
    }
    this.chunks.push(Buffer.from(chunk));
  }

  async finish(sha: string, size: number, meta?: EntryMeta): Promise<{ version: string }> {
    if (this.failed) throw this.failed;
    const p = this.p!;
    if (p.gate) await p.gate;
    // Given up while the owner was slow: the owner discards what it received, as on a destroyed request.
    if (this.failed) throw this.failed;
    return p.answer(`finish ${this.entry.key}`, () =>
      p.internal.receiveEntry(encodeEntry(this.entry), withTrailers(Readable.from(this.chunks), { [SHA_TRAILER]: sha, [SIZE_TRAILER]: String(size), ...(meta ? { [META_TRAILER]: encodeMetaTrailer(meta) } : {}) })),
    );
  }

  abort(reason: Error): void {
    this.failed ??= reason;
  }
}

function withTrailers(body: Readable, trailers: Record<string, string>): Readable & { trailers: Record<string, string | undefined> } {
  return Object.assign(body, { trailers });
}

function syncOf(p: FakePeer): SyncAnswers {
  if (!p.sync) throw new Error(`FakePeer ${p.id} was given no SyncAnswers to serve anti-entropy with`);
  return p.sync;
}
