import type { Readable } from 'node:stream';
import { ShoalError } from '../../common/errors.js';
import type { Entry, EntryMeta } from '../storage/entry.js';
import type { ByteRange } from '../storage/range.js';
import type { BatchItem, DigestAnswer, EntryPage, FenceClaim, FenceReply, PutResult } from './wire.js';

/** Injection token of the {@link PeerClient}: HttpPeerClient in a node, FakePeerClient in specs. */
export const PEER_CLIENT = Symbol('PEER_CLIENT');

/** Metadata calls should be quick; a peer that does not answer in this time is treated as unreachable. */
export const META_TIMEOUT_MS = 3000;
/** Blob transfers: no total timeout (a file may be large), but a connection idle this long is given up. */
export const IDLE_TIMEOUT_MS = 15000;
/**
 * A leg of a client's write that sends nothing for this long is given up (the write then fails or goes on with the
 * other owners). Much shorter than the idle timeout of background transfers: a client is waiting (DESIGN §3 Upload).
 */
export const LEG_IDLE_TIMEOUT_MS = 5000;

/** One item's result in a batched call: each entry or claim of a batch succeeds or fails on its own. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: Error };

/** A write batch's outcomes: one per claim, one per entry, in the order sent. */
export interface WriteBatchOutcome {
  answers: Outcome<FenceReply>[];
  results: Outcome<PutResult>[];
}

/** Which peer to call: its id (for logs and legs) and its base URL. A membership `Member` is one. */
export interface PeerRef {
  id: string;
  url: string;
}

export interface SendOptions {
  /** Aborts the transfer (the coordinator gave the write up; the node stops and ends its background work). */
  signal?: AbortSignal;
  /** Total time allowed; 0 = none. */
  timeoutMs?: number;
}

/**
 * One owner's leg of a pipelined upload: the coordinator forwards each chunk of the client's body as it arrives and,
 * once the body is complete (and fsynced locally), the SHA-256 and size. The owner re-hashes what it received,
 * refuses a mismatch and only then commits; an aborted leg leaves nothing on the owner.
 */
export interface PeerUpload {
  readonly peerId: string;
  /** Set once the leg broke (the owner refused, died or went silent): later writes are dropped. */
  readonly failed?: Error;
  /** Forwards a chunk; resolves when the peer can take more (backpressure), or at once if this leg already failed. */
  write(chunk: Buffer): Promise<void>;
  /**
   * Completes the body and waits for the owner's verdict: the version it now holds for the key. `meta` adds fields
   * known only at the end of the body to the entry's metadata.
   */
  finish(sha256: string, size: number, meta?: EntryMeta): Promise<{ version: string }>;
  abort(reason: Error): void;
}

/**
 * The node↔node protocol as one interface (DESIGN §2 `/internal/…`, cluster token always). Every call streams: a file
 * is never held in memory. Implementations reject with {@link PeerAnswerError} when the peer answered with an error
 * status, and with any other error when it could not be reached or went silent.
 */
export interface PeerClient {
  /** Sends an entry with its bytes; the peer re-hashes them and refuses a mismatch. */
  putEntry(peer: PeerRef, entry: Entry, body: Readable | Buffer, opts?: SendOptions): Promise<PutResult>;
  /** Opens one owner's leg of a pipelined upload (`entry` has no content fields yet). */
  openUpload(peer: PeerRef, entry: Entry): PeerUpload;
  /** Applies a tombstone (or any entry whose blob the peer already holds). */
  putTombstone(peer: PeerRef, entry: Entry, opts?: SendOptions): Promise<PutResult>;
  /**
   * Proposes the version of a new write of `key` (owner fencing, see replication/fencing.ts): the owner's clock
   * observes it and it answers with the version it holds for the key, or null. With `reserve` (a conditional
   * write's token) it also grants the key to that write, unless another conditional write holds it; with `release` as
   * well it gives that grant up instead.
   */
  fence(peer: PeerRef, key: string, version: string, timeoutMs: number, reserve?: string, release?: boolean): Promise<FenceReply>;
  /**
   * Protocol 2: many small entries (inline-sized, with their bytes; tombstones without) in one request, applied
   * together by the owner, one outcome each. Rejects as a whole only when the request itself failed; a peer of the
   * previous release rejects with a 404 {@link PeerAnswerError} (see batching-peer-client.ts).
   */
  putEntries(peer: PeerRef, items: BatchItem[], opts?: SendOptions): Promise<Outcome<PutResult>[]>;
  /** Protocol 2: many fence proposals in one request, one answer each (rejects as a whole like {@link putEntries}). */
  fenceMany(peer: PeerRef, claims: FenceClaim[], timeoutMs: number): Promise<Outcome<FenceReply>[]>;
  /**
   * Protocol 3: fence proposals and small entries in one request, one answer per claim and one outcome per entry
   * (rejects as a whole like {@link putEntries}; a peer of protocol 2 with a 404 {@link PeerAnswerError}).
   */
  writeBatch(peer: PeerRef, claims: FenceClaim[], items: BatchItem[], opts?: SendOptions): Promise<WriteBatchOutcome>;
  /** The versions a peer holds for some keys (metadata only); `null` where it holds nothing. */
  versions(peer: PeerRef, keys: string[], opts?: SendOptions): Promise<(Entry | null)[]>;
  /** Streams a blob from a peer. The caller verifies the hash of a whole blob. `signal` ends the body too. */
  openBlob(peer: PeerRef, sha256: string, size: number, range?: ByteRange, opts?: Pick<SendOptions, 'signal'>): Promise<Readable>;
  /** Anti-entropy, step 1: compares one root hash over the shared partitions; on a mismatch, the peer's digests. */
  syncDigests(peer: PeerRef, partitions: string, root: string, recovering: boolean, opts?: Pick<SendOptions, 'signal'>): Promise<DigestAnswer>;
  /** Anti-entropy, step 2: a page of a peer's entries of one partition (tombstones included), in key order. */
  partitionEntries(peer: PeerRef, partition: number, after: string | undefined, limit: number, recovering: boolean, opts?: Pick<SendOptions, 'signal'>): Promise<EntryPage>;
  /** A page of a peer's local entries in key order (tombstones included), for cluster-wide listing. */
  scan(peer: PeerRef, prefix: string, after: string | undefined, limit: number): Promise<EntryPage>;
}

/** A peer answered with an error status: it refused (unlike silence or a broken connection, which may hide a commit). */
export class PeerAnswerError extends Error {
  constructor(
    readonly status: number,
    /** the `code` of its problem document, when it sent one */
    readonly problemCode?: string,
  ) {
    super(`HTTP ${status}${problemCode ? ` ${problemCode}` : ''}`);
    this.name = 'PeerAnswerError';
  }
}

/** A batch's per-item answers as outcomes: a refused item fails as its own request would have (a PeerAnswerError). */
export function outcomesOf<T>(answers: unknown, expected: number): Outcome<T>[] {
  if (!Array.isArray(answers) || answers.length !== expected) throw new Error(`a batch of ${expected} was answered with ${Array.isArray(answers) ? answers.length : 'no'} outcomes`);
  return answers.map((a: unknown): Outcome<T> => {
    const e = typeof a === 'object' && a !== null ? (a as { error?: { status?: unknown; code?: unknown } }).error : undefined;
    if (e === undefined) return { ok: true, value: a as T };
    return { ok: false, error: new PeerAnswerError(typeof e.status === 'number' ? e.status : 500, typeof e.code === 'string' ? e.code : undefined) };
  });
}

/** Whether the owner itself answered (refused) rather than stayed silent: then it certainly did not commit. */
export function answeredByPeer(err: unknown): boolean {
  return err instanceof ShoalError || err instanceof PeerAnswerError;
}

/** A short reason for logs and hints: status and problem code, or the socket error. */
export function peerError(err: unknown): string {
  if (err instanceof ShoalError) return err.code;
  if (err instanceof PeerAnswerError) return err.message;
  const e = err as { code?: string; message?: string } | undefined;
  return e?.code ?? e?.message ?? String(err);
}
