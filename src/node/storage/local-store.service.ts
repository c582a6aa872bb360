import { createReadStream } from 'node:fs';
import { stat, statfs, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Database } from 'lmdb';
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { NodeIdentity } from '../identity/node-identity.js';
import type { Holdings, NodeStats, NodeStatsSource } from '../membership/node-stats.js';
import { partitionOf } from '../placement/partition.js';
import { BlobFiles } from './blob-files.js';
import type { Entry } from './entry.js';
import { HybridLogicalClock, type Version } from './hlc.js';
import { compareKeys } from './keys.js';
import { MetaStore, type ApplyResult } from './meta-store.js';
import type { ByteRange } from './range.js';
import { stageBlob, type StagedBlob, type StageOptions } from './staging.js';
import { CorruptBlobError, VerifyStream } from './verify-stream.js';

/**
 * One node's local store: metadata in LMDB, blob bytes on disk or inline. It applies entries by last-writer-wins and
 * knows nothing of peers; replication and sync build on it.
 *
 * Crash safety (DESIGN §4): a blob is staged in tmp/, fsynced, renamed into place, and only then is its metadata
 * committed in one transaction. A crash before the commit leaves an unreferenced blob, removed at the next start.
 */
@Injectable()
export class LocalStoreService implements OnModuleInit, OnApplicationShutdown, NodeStatsSource {
  private readonly logger = new Logger(LocalStoreService.name);
  private meta!: MetaStore;
  readonly files: BlobFiles;
  readonly clock: HybridLogicalClock;
  /** Per-blob locks: placing a file with its reference, and freeing it when unreferenced, never interleave. */
  private readonly blobLocks = new Map<string, Promise<void>>();
  private readonly corruptions;
  /** Called when a read finds a corrupt blob (the sync layer subscribes to re-fetch it). */
  onCorrupt?: (entry: Entry) => void;

  constructor(
    @Inject(APP_CONFIG) private readonly config: NodeConfig,
    identity: NodeIdentity,
    metrics: MetricsService,
  ) {
    this.files = new BlobFiles(config.dataDir);
    this.clock = new HybridLogicalClock(identity.id);
    this.corruptions = metrics.counter({ name: 'shoal_corrupt_blobs_total', help: 'blobs found corrupt (by reads or the scrubber) and quarantined', labelNames: ['found_by'] });
    const counters = () => this.meta?.counters() ?? { files: 0, bytes: 0 };
    metrics.gauge({ name: 'shoal_node_files', help: 'live files held on this node', collect() { this.set(counters().files); } });
    metrics.gauge({ name: 'shoal_node_bytes', help: 'bytes of live files held on this node', collect() { this.set(counters().bytes); } });
    const stats = () => this.stats();
    metrics.gauge({ name: 'shoal_node_free_bytes', help: 'free bytes on the filesystem of DATA_DIR', async collect() { this.set((await stats()).freeBytes); } });
    metrics.gauge({ name: 'shoal_node_capacity_bytes', help: 'size of the filesystem of DATA_DIR', async collect() { this.set((await stats()).capacityBytes); } });
  }

  async onModuleInit(): Promise<void> {
    await this.files.init();
    this.meta = new MetaStore(join(this.config.dataDir, 'meta'));
    const hw = this.meta.clockHighWater();
    if (hw) this.clock.observe(hw);
    await this.collectOrphans();
  }

  /**
   * Closed last: Nest runs onModuleDestroy, then beforeApplicationShutdown (background work stops and drains, the
   * node leaves the registries), then closes the HTTP server (requests in flight finish), and only then this.
   */
  async onApplicationShutdown(): Promise<void> {
    await this.meta?.close();
  }

  /** A database of its own in the metadata store, for the layers above (hints, sync state). */
  auxiliary<V, K extends string | number | (string | number)[]>(name: string): Database<V, K> {
    return this.meta.auxiliary<V, K>(name);
  }

  partitionOf(key: string): number {
    return partitionOf(key, this.config.partitionBits);
  }

  get(key: string): Entry | undefined {
    return this.meta.get(key);
  }

  /** Receives an upload into tmp/ (see {@link stageBlob}). Not visible until {@link commit}. */
  stage(source: Readable | AsyncIterable<Buffer>, opts: StageOptions): Promise<StagedBlob> {
    return stageBlob(source, this.files.newTmpPath(), opts);
  }

  /** Drops a staged upload that will not be committed. */
  async discard(staged: StagedBlob): Promise<void> {
    if (staged.tmpPath) await unlink(staged.tmpPath).catch(() => undefined);
  }

  /**
   * Makes `entry` visible if it is newer than what is held (last writer wins). For a live entry, `staged` holds its
   * bytes, unless the blob is already stored here (same content under another key or version).
   */
  async commit(entry: Entry, staged?: StagedBlob): Promise<ApplyResult> {
    this.clock.observe(entry.version);
    const partition = this.partitionOf(entry.key);
    if (entry.deleted) {
      const result = await this.meta.apply(entry, partition);
      await this.freeUnreferenced(result.freed);
      return result;
    }
    const sha = entry.sha256;
    // Placing the file and committing its reference happen under the blob's lock, so a concurrent delete that drops
    // the last reference to the same content can never unlink the file between the two.
    const result = await this.withBlobLock(sha, async () => {
      if (staged?.tmpPath) await this.files.place(staged.tmpPath, sha);
      return this.meta.apply(entry, partition, staged?.data);
    });
    // A blob placed for an entry that lost the version race is referenced by nobody.
    await this.freeUnreferenced(result.applied ? result.freed : [...result.freed, sha]);
    return result;
  }

  /** The bytes of a small blob kept inline, if this one is. */
  inlineData(sha256: string): Buffer | undefined {
    return this.meta.getInline(sha256);
  }

  /** Whether the bytes of `sha256` are held here (inline or as a file). */
  async hasBlob(sha256: string): Promise<boolean> {
    return this.meta.hasInline(sha256) || (await this.files.exists(sha256));
  }

  /**
   * A stream of the entry's bytes (or a range of them). A whole-blob read is re-hashed on the way out: a mismatch
   * quarantines the blob and cuts the stream before its last chunk, so corrupt bytes are never sent complete.
   */
  openRead(entry: Entry, range?: ByteRange, reader: 'read' | 'scrub' = 'read'): Readable {
    const inline = this.meta.getInline(entry.sha256);
    const whole = !range || (range.start === 0 && range.end === entry.size - 1);
    let source: Readable;
    if (inline) source = Readable.from(range ? [inline.subarray(range.start, range.end + 1)] : [inline]);
    else source = createReadStream(this.files.pathOf(entry.sha256), { start: range?.start, end: range?.end, highWaterMark: 256 * 1024 });
    if (!whole) return source;
    const verify = new VerifyStream(entry.sha256, (err) => void this.handleCorrupt(entry, err, reader));
    source.once('error', (err) => verify.destroy(err));
    return source.pipe(verify);
  }

  /** The size of a blob held here, or undefined. */
  async blobSize(sha256: string): Promise<number | undefined> {
    const inline = this.meta.getInline(sha256);
    if (inline) return inline.length;
    return stat(this.files.pathOf(sha256)).then((s) => s.size, () => undefined);
  }

  /** A blob's bytes by hash, for peers (replication, sync, read-repair). */
  openBlob(sha256: string, size: number, range?: ByteRange): Readable {
    return this.openRead({ key: '', version: '', sha256, size, contentType: '', updatedAt: 0, deleted: false }, range);
  }

  async handleCorrupt(entry: Entry, err: CorruptBlobError, foundBy: 'read' | 'scrub'): Promise<void> {
    this.corruptions.inc({ found_by: foundBy });
    this.logger.error({ sha256: err.expected, actual: err.actual, key: entry.key, foundBy }, 'corrupt blob quarantined');
    if (!this.meta.hasInline(entry.sha256)) await this.files.quarantine(entry.sha256).catch(() => undefined);
    this.onCorrupt?.(entry);
  }

  /**
   * Live entries in key order whose key starts with `prefix` and sorts after `after`; at most `limit`.
   */
  listLive(prefix: string, after: string | undefined, limit: number): Entry[] {
    const start = scanStart(prefix, after);
    const out: Entry[] = [];
    for (const e of this.meta.scan(start)) {
      if (!e.key.startsWith(prefix)) break;
      if (e.deleted) continue;
      out.push(e);
      if (out.length >= limit) break;
    }
    return out;
  }

  /** A page of entries (tombstones included) in key order: keys with `prefix`, after `after`, at most `limit`. */
  scanPage(prefix: string, after: string | undefined, limit: number): { entries: Entry[]; truncated: boolean } {
    const start = scanStart(prefix, after);
    const entries: Entry[] = [];
    for (const e of this.meta.scan(start, limit + 1)) {
      if (!e.key.startsWith(prefix)) break;
      entries.push(e);
    }
    return { entries: entries.slice(0, limit), truncated: entries.length > limit };
  }

  scanPartition(partition: number, afterKey?: string): Iterable<Entry> {
    return this.meta.scanPartition(partition, afterKey);
  }

  /** A page of one partition's entries (tombstones included) in key order, after `after`. */
  partitionPage(partition: number, after: string | undefined, limit: number): { entries: Entry[]; truncated: boolean } {
    const entries: Entry[] = [];
    for (const e of this.meta.scanPartition(partition, after)) {
      entries.push(e);
      if (entries.length > limit) break;
    }
    return { entries: entries.slice(0, limit), truncated: entries.length > limit };
  }

  /** Puts back the bytes of a blob that was found corrupt and quarantined (they were re-fetched and re-hashed). */
  async restoreBlob(staged: StagedBlob): Promise<void> {
    if (staged.data) await this.meta.putInline(staged.sha256, staged.data);
    else if (staged.tmpPath) await this.files.place(staged.tmpPath, staged.sha256);
  }

  digest(partition: number): Buffer {
    return this.meta.digest(partition);
  }

  heldPartitions(): Iterable<number> {
    return this.meta.partitions();
  }

  purge(entry: Entry): Promise<ApplyResult> {
    return this.meta.purge(entry.key, this.partitionOf(entry.key), entry.version).then(async (r) => {
      await this.freeUnreferenced(r.freed);
      return r;
    });
  }

  /** Tombstones older than `beforeMs` (by version time), oldest first. */
  expiredTombstones(beforeMs: number, limit: number): Entry[] {
    return this.meta.expiredTombstones(beforeMs, limit);
  }

  /** Entries held, tombstones included. */
  entryCount(): number {
    return this.meta.entryCount();
  }

  newVersion(): Version {
    return this.clock.now();
  }

  async stats(): Promise<NodeStats> {
    const fs = await statfs(this.config.dataDir);
    const c = this.meta?.counters() ?? { files: 0, bytes: 0 };
    return { capacityBytes: fs.blocks * fs.bsize, freeBytes: fs.bavail * fs.bsize, usedBytes: c.bytes, files: c.files };
  }

  /** Partitions holding anything (an emptied partition keeps its all-zero digest), entries and bytes. */
  holdings(): Holdings {
    let partitions = 0;
    for (const p of this.heldPartitions()) if (this.digest(p).some((b) => b !== 0)) partitions++;
    const c = this.meta?.counters() ?? { files: 0, bytes: 0 };
    return { partitions, entries: this.entryCount(), bytes: c.bytes };
  }

  private async freeUnreferenced(shas: string[]): Promise<void> {
    for (const sha of shas) {
      await this.withBlobLock(sha, async () => {
        if (this.meta.refCount(sha) > 0) return;
        await this.files.remove(sha).catch((err: unknown) => this.logger.warn({ err, sha }, 'could not remove an unreferenced blob'));
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

  /** Blobs left on disk by a crash between rename and commit (or between commit and unlink). */
  private async collectOrphans(): Promise<void> {
    let removed = 0;
    for await (const sha of this.files.list()) {
      if (this.meta.refCount(sha) === 0) {
        await this.files.remove(sha);
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
