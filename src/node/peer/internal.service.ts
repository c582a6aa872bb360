import type { Readable } from 'node:stream';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { ShoalError } from '../../common/errors.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { MAX_STORED_KEY_BYTES, validateKey } from '../storage/keys.js';
import { versionTime, type Version } from '../storage/hlc.js';
import { NodeStateService } from '../state/node-state.service.js';
import { LocalStoreService } from '../storage/local-store.service.js';
import { parseRange } from '../storage/range.js';
import { checkEntry, decodeEntry, decodeEntryBatch, decodeMetaTrailer, decodeWriteBatch, isPendingEntry, META_TRAILER, SHA_TRAILER, SIZE_TRAILER, type BatchAnswer, type EntryPage, type FenceReply, type PutResult } from './wire.js';
import { checkEntryMeta, type Entry, type EntryMeta } from '../storage/entry.js';

/** What a peer may ask of this node's local store (the server side of PeerClient, see wire.ts). */
@Injectable()
export class InternalService {
  private readonly logger = new Logger(InternalService.name);
  private readonly futureVersions;

  constructor(
    @Inject(APP_CONFIG) private readonly config: NodeConfig,
    private readonly store: LocalStoreService,
    private readonly state: NodeStateService,
    metrics: MetricsService,
  ) {
    this.futureVersions = metrics.counter({
      name: 'shoal_future_versions_total',
      help: 'versions received from peers that lie further ahead of this node\'s clock than MAX_CLOCK_SKEW_MS (accepted, never dropped)',
    });
  }

  /**
   * Owner fencing (replication/fencing.ts): a coordinator proposes the version of a new write. This node's clock
   * observes it (so its own next write is newer), and it answers with what it holds; the coordinator decides.
   * A recovering node answers nothing: it may not yet hold a write it was away for, and its word must not count.
   */
  fence(key: string, version: Version, reserve?: string, release?: boolean): FenceReply {
    // Stored keys may be longer than /v1 keys (an S3 object `bucket/key`): the same bound as checkEntry's.
    validateKey(key, MAX_STORED_KEY_BYTES);
    this.state.assertNotRecovering();
    this.noteVersion(version, 'fence');
    this.store.clock.observe(version);
    const held = this.store.get(key);
    const reply: FenceReply = { held: held?.version ?? null, deleted: held?.deleted ?? false };
    if (reserve !== undefined && release) this.store.reservations.release(key, reserve);
    else if (reserve !== undefined) reply.reserved = this.store.reservations.reserve(key, reserve, version);
    return reply;
  }

  /**
   * Many fence proposals at once (wire.ts FENCE_BATCH_PATH), each judged exactly as {@link fence} judges one; a
   * malformed key refuses its own claim only. A recovering node refuses the whole batch, as it would each claim.
   */
  async fenceMany(claims: { key: string; version: Version }[]): Promise<{ answers: BatchAnswer<FenceReply>[] }> {
    this.state.assertNotRecovering();
    return { answers: await this.judgeClaims(claims) };
  }

  private judgeClaims(claims: { key: string; version: Version }[]): Promise<BatchAnswer<FenceReply>[]> {
    return Promise.all(claims.map((c) => outcome(() => this.fence(c.key, c.version))));
  }

  /**
   * A batch of small entries with their bytes (wire.ts ENTRY_BATCH_PATH): each is checked, re-hashed and applied
   * by LWW as on its own request (decodeEntryBatch has refused a frame with any entry too large to batch), all at once so the index commits them together (its transactions are batched into
   * one commit and one fsync); each gets its own outcome, so one refused entry fails nothing else.
   */
  async receiveBatch(raw: Buffer): Promise<{ results: BatchAnswer<PutResult>[] }> {
    this.state.assertMayStore();
    return { results: await this.applyBatch(decodeEntryBatch(raw)) };
  }

  /**
   * A write batch (wire.ts WRITE_BATCH_PATH): claims judged as {@link fence} judges each, entries applied as
   * {@link receiveBatch} applies them. The two halves belong to different writes (an entry travels only once its own
   * claim was answered), so neither waits for the other; a node that may not store, or is recovering, refuses each
   * item as its own route would, and the other half still goes through.
   */
  async receiveWrites(raw: Buffer): Promise<{ answers: BatchAnswer<FenceReply>[]; results: BatchAnswer<PutResult>[] }> {
    const { claims, items } = decodeWriteBatch(raw);
    const answers = await this.judgeClaims(claims);
    let results: BatchAnswer<PutResult>[];
    try {
      this.state.assertMayStore();
      results = await this.applyBatch(items);
    } catch (err) {
      results = items.map(() => refusal(err));
    }
    return { answers, results };
  }

  private applyBatch(items: { entry: Entry; data?: Buffer }[]): Promise<BatchAnswer<PutResult>[]> {
    return Promise.all(
      items.map(({ entry: rawEntry, data }) =>
        outcome(async (): Promise<PutResult> => {
          const entry = checkEntry(rawEntry);
          this.noteVersion(entry.version, 'batch');
          if (entry.deleted) return held(entry, await this.store.commit(entry));
          const staged = await this.store.stage(once(data ?? Buffer.alloc(0)), { expectedSha256: entry.sha256, declaredLength: entry.size });
          return held(entry, await this.store.commit(entry, staged));
        }),
      ),
    );
  }

  /**
   * A version far ahead of this node's clock comes from a node whose clock runs fast (or from this node running
   * slow). It is still accepted — dropping it could lose an acknowledged write — but counted and logged.
   */
  private noteVersion(version: Version, via: string): void {
    const ahead = versionTime(version) - Date.now();
    if (ahead <= this.config.maxClockSkewMs) return;
    this.futureVersions.inc();
    this.logger.warn({ version, aheadMs: ahead, via }, 'a peer sent a version far ahead of this node\'s clock');
  }

  /** An entry with its bytes: re-hashed on arrival (a mismatch is refused), fsynced, then applied by LWW. */
  async receiveEntry(header: string, body: Readable & { trailers: Record<string, string | undefined> }): Promise<PutResult> {
    this.state.assertMayStore();
    let entry = decodeEntry(header);
    this.noteVersion(entry.version, 'entry');
    if (entry.deleted) throw new ShoalError('BAD_REQUEST', 'a tombstone carries no body; POST it to /internal/tombstones');
    const pending = isPendingEntry(entry);
    // A conditional write's leg keeps the key granted to it until it is committed or discarded here.
    const release = this.store.reservations.hold(entry.key, entry.version);
    try {
      return await this.receive(entry, pending, body);
    } finally {
      release();
    }
  }

  private async receive(entry: Entry, pending: boolean, body: Readable & { trailers: Record<string, string | undefined> }): Promise<PutResult> {
    const staged = await this.store.stage(
      body,
      pending
        ? { verify: (sha, size) => checkTrailers(body.trailers, sha, size) }
        : { expectedSha256: entry.sha256, declaredLength: entry.size },
    );
    if (pending) {
      entry = { ...entry, sha256: staged.sha256, size: staged.size };
      let extra;
      try {
        extra = decodeMetaTrailer(body.trailers[META_TRAILER]);
      } catch (err) {
        await this.store.discard(staged);
        throw err;
      }
      if (extra) entry.meta = withExtraMeta(entry.meta, extra);
    }
    return held(entry, await this.store.commit(entry, staged));
  }

  /** A tombstone, or a live entry whose blob is already held here (no need to send the bytes twice). */
  async applyEntry(raw: Entry): Promise<PutResult> {
    this.state.assertMayStore();
    const entry = checkEntry(raw);
    this.noteVersion(entry.version, 'tombstone');
    if (!entry.deleted && !(await this.store.hasBlob(entry.sha256))) throw new ShoalError('CONFLICT', `blob ${entry.sha256} is not held here; send the bytes`);
    return held(entry, await this.store.commit(entry));
  }

  versions(keys: string[]): { entries: (Entry | null)[] } {
    this.state.assertNotRecovering();
    return { entries: keys.map((k) => this.store.get(k) ?? null) };
  }

  scan(prefix: string, after: string | undefined, limit: number): EntryPage {
    this.state.assertNotRecovering();
    return this.store.scanPage(prefix, after, limit);
  }

  async openBlob(sha256: string, rangeHeader?: string): Promise<{ status: number; headers: Record<string, string>; stream: Readable }> {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new ShoalError('BAD_REQUEST', 'not a SHA-256');
    const size = await this.store.blobSize(sha256);
    if (size === undefined) throw new ShoalError('NOT_FOUND', `blob ${sha256} is not held here`);
    const range = parseRange(rangeHeader, size);
    const stream = this.store.openBlob(sha256, size, range);
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'content-length': String(range ? range.end - range.start + 1 : size) };
    if (range) headers['content-range'] = `bytes ${range.start}-${range.end}/${size}`;
    return { status: range ? 206 : 200, headers, stream };
  }
}

/** The entry's metadata with the fields its trailer added; still bounded like any metadata. */
function withExtraMeta(meta: EntryMeta | undefined, extra: EntryMeta): EntryMeta {
  const merged = checkEntryMeta({ ...meta, ...extra });
  if (!merged) throw new ShoalError('BAD_REQUEST', 'the metadata of the entry and its trailer exceed the bound');
  return merged;
}

async function* once(data: Buffer): AsyncGenerator<Buffer> {
  yield data;
}

/** What an owner answers to an entry it was sent: whether it applied it, and the version it now holds. */
function held(entry: Entry, result: { applied: boolean; previous?: Entry }): PutResult {
  return { applied: result.applied, version: result.applied ? entry.version : (result.previous?.version ?? entry.version) };
}

/** One entry's outcome in a batch: its answer, or the status and code its own request would have been refused with. */
async function outcome<T>(fn: () => T | Promise<T>): Promise<BatchAnswer<T>> {
  try {
    return await fn();
  } catch (err) {
    return refusal(err);
  }
}

/** An item's refusal in a batch answer: what its own request would have answered. */
function refusal(err: unknown): { error: { status: number; code: string; detail: string } } {
  if (err instanceof ShoalError) return { error: { status: err.status, code: err.code, detail: err.message } };
  return { error: { status: 500, code: 'INTERNAL', detail: err instanceof Error ? err.message : String(err) } };
}

/** A pipelined upload is complete only when the coordinator's trailers name exactly what arrived. */
function checkTrailers(trailers: Record<string, string | undefined>, sha256: string, size: number): void {
  const declared = trailers[SHA_TRAILER];
  if (!declared) throw new ShoalError('INCOMPLETE_BODY', 'the upload ended without its checksum trailer; nothing was stored');
  if (declared !== sha256) throw new ShoalError('CHECKSUM_MISMATCH', `received bytes hash to ${sha256}, the coordinator sent ${declared}`);
  if (trailers[SIZE_TRAILER] !== String(size)) throw new ShoalError('INCOMPLETE_BODY', `received ${size} bytes, the coordinator sent ${trailers[SIZE_TRAILER]}`);
}
