import { hash } from 'node:crypto';
import { statfs } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { ShoalError } from '../../common/errors.js';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { Subject, type Observable } from 'rxjs';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import type { Holdings, NodeStats, NodeStatsSource } from './node-stats.js';
import { partitionOf } from './partition.js';
import { BLOB_STORE, type BlobStore, type StagedReader } from './blob-store.js';
import type { Entry } from './entry.js';
import { ENTRY_INDEX, type ApplyResult, type EntryIndex, type EntryPage, type EntryReader } from './entry-index.js';
import { CLOCK, compareVersions, type Clock } from './hlc.js';
import { KeyReservations } from './reservations.js';
import { compareKeys } from './keys.js';
import type { ByteRange } from './range.js';
import type { StagedBlob, StageOptions } from './staging.js';
import { CorruptBlobError, VerifyStream } from './verify-stream.js';

/**
 * One node's local store: the facade over the {@link EntryIndex} (metadata) and the {@link BlobStore} (bytes) that
 * keeps the two consistent. It applies entries by last-writer-wins and knows nothing of peers; replication and sync
 * build on it. Read-only queries of the metadata (digests, partition scans, tombstones) go to the index directly.
 *
 * Crash safety (DESIGN §4): a blob is staged, fsynced, placed (renamed), and only then is its metadata committed in
 * one transaction. A crash before the commit leaves an unreferenced blob, removed at the next start.
 */
@Injectable()
export class LocalStoreService implements OnModuleInit, NodeStatsSource {
  private readonly logger = new Logger(LocalStoreService.name);
  /** Per-blob locks: placing a file with its reference, and freeing it when unreferenced, never interleave. */
  private readonly blobLocks = new Map<string, Promise<void>>();
  private readonly corruptions;
  private readonly corrupt = new Subject<Entry>();
  /** Entries whose blob a read or the scrubber found corrupt (and quarantined); blob repair re-fetches them. */
  readonly corrupted: Observable<Entry> = this.corrupt.asObservable();
  /**
   * The index's read side, for the queries sync runs (digests, partition scans, expired tombstones, counts). Every
   * write goes through this facade instead, which keeps blobs and their references consistent.
   */
  readonly entries: EntryReader;

  /** Keys granted to conditional writes in progress (see reservations.ts); owner-local, like the clock. */
  readonly reservations = new KeyReservations();

  constructor(
    @Inject(APP_CONFIG) private readonly config: NodeConfig,
    @Inject(ENTRY_INDEX) private readonly index: EntryIndex,
    @Inject(BLOB_STORE) private readonly blobs: BlobStore,
    /** The node's clock: it observes every version committed here; fencing and replication read and move it. */
    @Inject(CLOCK) readonly clock: Clock,
    metrics: MetricsService,
  ) {
    this.entries = index;
    this.corruptions = metrics.counter({ name: 'shoal_corrupt_blobs_total', help: 'blobs found corrupt (by reads or the scrubber) and quarantined', labelNames: ['found_by'] });
    const counters = () => this.index.counters();
    metrics.gauge({ name: 'shoal_node_files', help: 'live files held on this node', collect() { this.set(counters().files); } });
    metrics.gauge({ name: 'shoal_node_bytes', help: 'bytes of live files held on this node', collect() { this.set(counters().bytes); } });
    const stats = () => this.stats();
    metrics.gauge({ name: 'shoal_node_free_bytes', help: 'free bytes on the filesystem of DATA_DIR', async collect() { this.set((await stats()).freeBytes); } });
    metrics.gauge({ name: 'shoal_node_capacity_bytes', help: 'size of the filesystem of DATA_DIR', async collect() { this.set((await stats()).capacityBytes); } });
  }

  async onModuleInit(): Promise<void> {
    await this.blobs.init();
    const hw = this.index.clockHighWater();
    if (hw) this.clock.observe(hw);
    await this.collectOrphans();
  }

  get(key: string): Entry | undefined {
    return this.index.get(key);
  }

  /** Receives an upload (see {@link BlobStore.stage}). Not visible until {@link commit}. */
  stage(source: Readable | AsyncIterable<Buffer>, opts: StageOptions): Promise<StagedBlob> {
    return this.blobs.stage(source, opts);
  }

  /** Drops a staged upload that will not be committed. */
  discard(staged: StagedBlob): Promise<void> {
    return this.blobs.discard(staged);
  }

  /** Streams of a staged upload's bytes, opened before its commit and valid after (see {@link BlobStore.openStaged}). */
  openStaged(staged: StagedBlob): Promise<StagedReader> {
    return this.blobs.openStaged(staged);
  }

  /**
   * Makes `entry` visible if it is newer than what is held (last writer wins). For a live entry, `staged` holds its
   * bytes, unless the blob is already stored here (same content under another key or version).
   */
  async commit(entry: Entry, staged?: StagedBlob): Promise<ApplyResult> {
    this.clock.observe(entry.version);
    const partition = this.partitionOf(entry.key);
    if (entry.deleted) {
      const result = await this.index.apply(entry, partition);
      await this.freeUnreferenced(result.freed);
      return result;
    }
    const sha = entry.sha256;
    // Placing the file and committing its reference happen under the blob's lock, so a concurrent delete that drops
    // the last reference to the same content can never remove the file between the two.
    const result = await this.withBlobLock(sha, async () => {
      if (staged?.tmpPath) await this.blobs.place(staged);
      // Without bytes the entry references a blob held here already — checked under the lock, so a delete that drops
      // its last other reference cannot remove it in between (copies, sync and peers take this path).
      else if (!staged?.data && this.wouldApply(entry) && !(await this.hasBlob(sha))) throw new ShoalError('CONFLICT', `blob ${sha} is not held here; send the bytes`);
      return this.index.apply(entry, partition, staged?.data);
    });
    // A blob placed for an entry that lost the version race is referenced by nobody.
    await this.freeUnreferenced(result.applied ? result.freed : [...result.freed, sha]);
    return result;
  }

  /** Whether `entry` is newer than what is held for its key (last writer wins). */
  private wouldApply(entry: Entry): boolean {
    const held = this.index.get(entry.key);
    return !held || compareVersions(entry.version, held.version) > 0;
  }

  /** Erases an entry outright, only at its version (tombstone GC, handover, recovery), and frees its blob if unused. */
  async purge(entry: Entry): Promise<ApplyResult> {
    const result = await this.index.purge(entry.key, this.partitionOf(entry.key), entry.version);
    await this.freeUnreferenced(result.freed);
    return result;
  }

  /** Whether the bytes of `sha256` are held here (inline or as a file). */
  async hasBlob(sha256: string): Promise<boolean> {
    return this.index.hasInline(sha256) || (await this.blobs.has(sha256));
  }

  /** The size of a blob held here, or undefined. */
  async blobSize(sha256: string): Promise<number | undefined> {
    return this.index.inlineSize(sha256) ?? this.blobs.size(sha256);
  }

  /**
   * A stream of the entry's bytes (or a range of them). A whole-blob read is re-hashed on the way out: a mismatch
   * quarantines the blob and cuts the stream before its last chunk, so corrupt bytes are never sent complete.
   */
  openRead(entry: Entry, range?: ByteRange, reader: 'read' | 'scrub' = 'read'): Readable {
    const inline = this.index.getInline(entry.sha256);
    const whole = !range || (range.start === 0 && range.end === entry.size - 1);
    let source: Readable;
    if (inline) source = Readable.from(range ? [inline.subarray(range.start, range.end + 1)] : [inline]);
    else source = this.blobs.open(entry.sha256, range);
    if (!whole) return source;
    const verify = new VerifyStream(entry.sha256, (err) => void this.handleCorrupt(entry, err, reader));
    source.once('error', (err) => verify.destroy(err));
    return source.pipe(verify);
  }

  /**
   * The whole content of a small blob kept inline, hash-checked in one synchronous pass: the download fast path, with
   * no stream between the metadata store and the response. `undefined` when the blob is not inline here (a file,
   * or freed by a newer write meanwhile). A copy that fails the check is handled as a streamed read would handle it
   * (counted, reported for re-fetching) and `null` is returned: its bytes are never handed out.
   */
  readInline(entry: Entry): Buffer | null | undefined {
    const data = this.index.getInline(entry.sha256);
    if (data === undefined) return undefined;
    const actual = hash('sha256', data); // one-shot: no Hash object for a body already in memory
    if (actual === entry.sha256) return data;
    void this.handleCorrupt(entry, new CorruptBlobError(entry.sha256, actual), 'read');
    return null;
  }

  /** A blob's bytes by hash, for peers (replication, sync, read-repair). */
  openBlob(sha256: string, size: number, range?: ByteRange): Readable {
    return this.openRead({ key: '', version: '', sha256, size, contentType: '', updatedAt: 0, deleted: false }, range);
  }

  /** Puts back the bytes of a blob that was found corrupt and quarantined (they were re-fetched and re-hashed). */
  async restoreBlob(staged: StagedBlob): Promise<void> {
    if (staged.data) await this.index.putInline(staged.sha256, staged.data);
    else if (staged.tmpPath) await this.blobs.place(staged);
  }

  /** Keeps a copy of a live entry's bytes aside for the operator (recovery quarantines it before purging it). */
  async keepCopy(entry: Entry): Promise<void> {
    if (!entry.deleted) await this.blobs.keepCopy(entry.sha256, this.index.getInline(entry.sha256));
  }

  /**
   * Live entries in key order whose key starts with `prefix` and sorts after `after`; at most `limit`.
   */
  listLive(prefix: string, after: string | undefined, limit: number): Entry[] {
    const out: Entry[] = [];
    for (const e of this.index.scan(scanStart(prefix, after))) {
      if (!e.key.startsWith(prefix)) break;
      if (e.deleted) continue;
      out.push(e);
      if (out.length >= limit) break;
    }
    return out;
  }

  /** A page of entries (tombstones included) in key order: keys with `prefix`, after `after`, at most `limit`. */
  scanPage(prefix: string, after: string | undefined, limit: number): EntryPage {
    const entries: Entry[] = [];
    for (const e of this.index.scan(scanStart(prefix, after), limit + 1)) {
      if (!e.key.startsWith(prefix)) break;
      entries.push(e);
    }
    return { entries: entries.slice(0, limit), truncated: entries.length > limit };
  }

  async stats(): Promise<NodeStats> {
    const fs = await statfs(this.config.dataDir);
    const c = this.index.counters();
    return { capacityBytes: fs.blocks * fs.bsize, freeBytes: fs.bavail * fs.bsize, usedBytes: c.bytes, files: c.files };
  }

  /** Partitions holding anything (an emptied partition keeps its all-zero digest), entries and bytes. */
  holdings(): Holdings {
    let partitions = 0;
    for (const p of this.index.partitions()) if (this.index.digest(p).some((b) => b !== 0)) partitions++;
    return { partitions, entries: this.index.entryCount(), bytes: this.index.counters().bytes };
  }

  private partitionOf(key: string): number {
    return partitionOf(key, this.config.partitionBits);
  }

  private async handleCorrupt(entry: Entry, err: CorruptBlobError, foundBy: 'read' | 'scrub'): Promise<void> {
    this.corruptions.inc({ found_by: foundBy });
    this.logger.error({ sha256: err.expected, actual: err.actual, key: entry.key, foundBy }, 'corrupt blob quarantined');
    if (!this.index.hasInline(entry.sha256)) await this.blobs.quarantine(entry.sha256).catch(() => undefined);
    this.corrupt.next(entry);
  }

  private async freeUnreferenced(shas: string[]): Promise<void> {
    for (const sha of shas) {
      await this.withBlobLock(sha, async () => {
        if (this.index.refCount(sha) > 0) return;
        await this.blobs.remove(sha).catch((err: unknown) => this.logger.warn({ err, sha }, 'could not remove an unreferenced blob'));
      });
    }
  }

  /** Runs `fn` after every earlier holder of the same blob's lock (a promise chain per SHA-256). */
  private withBlobLock<T>(sha: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.blobLocks.get(sha) ?? Promise.resolve()).then(fn);
    const tail = run.then(() => undefined, () => undefined);
    this.blobLocks.set(sha, tail);
    void tail.then(() => {
      if (this.blobLocks.get(sha) === tail) this.blobLocks.delete(sha);
    });
    return run;
  }

  /** Blobs left by a crash between place and commit (or between commit and removal). */
  private async collectOrphans(): Promise<void> {
    let removed = 0;
    for await (const sha of this.blobs.list()) {
      if (this.index.refCount(sha) === 0) {
        await this.blobs.remove(sha);
        removed++;
      }
    }
    if (removed > 0) this.logger.warn({ removed }, 'removed orphan blobs left by an interrupted write');
  }
}

/** Where a key-ordered scan for `prefix` resumes after the cursor `after` (in LMDB's order, see compareKeys). */
function scanStart(prefix: string, after: string | undefined): string {
  return after !== undefined && compareKeys(after, prefix) >= 0 ? `${after}\u0000` : prefix;
}
