import { hash } from 'node:crypto';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { fromIoError } from '../../common/errors.js';
import type { Database } from 'lmdb';
import { compareVersions, versionTime, type Version } from './hlc.js';
import { entryHash, xorInto, type Entry } from './entry.js';
import { ZERO_DIGEST, type ApplyResult, type CompactionStep, type Counters, type EntryIndex, type PackUsage } from './entry-index.js';
import type { LmdbEnvironment } from './lmdb-environment.js';
import { PackStore, RECORD_HEADER_BYTES, SEGMENT_BYTES, type Appended, type PackLocation } from './pack-store.js';

/** The one record of the index's own state in `meta`: the counters and the clock's high-water mark, written together. */
const STATE = 'state';
/**
 * Layout 1 kept them in two records (and whole entries in `by-partition`); layout 2 merged them; layout 3 keeps new
 * inline blobs in pack files (their locations in `inline-at`) while those of layout 2 stay readable in `inline`.
 */
const LAYOUT = 'layout';
const LAYOUT_VERSION = 3;
const NO_VALUE = Buffer.alloc(0);
/** The transaction found it needs an inline blob's bytes that were not appended (see {@link LmdbEntryIndex.apply}). */
const NEEDS_BYTES = Symbol('needs bytes');
/** A sealed segment is compacted once less than this share of it is live, or merged into the active one when small. */
const COMPACT_BELOW_LIVE = 0.5;
const SMALL_SEGMENT = SEGMENT_BYTES / 8;

interface IndexState extends Counters {
  hlc?: Version;
}

/**
 * The {@link EntryIndex} in the node's LMDB environment (`DATA_DIR/meta/`): entries by key, the keys of each partition,
 * partition digests, blob reference counts, where inline blobs are, the index's state (counters and the clock's
 * high-water mark) and the tombstones by time. Every entry change updates all of them in the same transaction, so a crash
 * leaves either the old state or the new one — never a digest that disagrees with the entries.
 *
 * What one upload costs (issue #14): 4 reads (the entry, the blob's references, the digest, the state) and 6 writes
 * for a new key (references, inline bytes, entry, partition key, digest, state), 5 for a new version of a key —
 * layout 1 took 6 reads and 7 writes, one of them a second copy of the entry. `by-partition` holds keys only (an
 * empty value, written once per key); a scan of a partition reads each entry from `entries`. The whole entries
 * layout 1 kept there are never read (they go when their key is purged); its two state records are merged into one
 * when the store is opened.
 *
 * Writes go through lmdb-js's asynchronous transactions, which it batches: concurrent small uploads share one commit
 * and one fsync (group commit).
 *
 * Inline blobs' bytes are in pack files (`DATA_DIR/packs`, see {@link PackStore}), not in LMDB's memory map: a small
 * upload appends its bytes, then its transaction makes them durable (one fdatasync shared by the batch) and commits
 * their location with its entry.
 * `pack-live` counts the referenced bytes of each segment in the same transactions; {@link compact} copies what is
 * still referenced out of mostly-garbage segments and deletes them.
 */
export class LmdbEntryIndex implements EntryIndex {
  private readonly entries: Database<Entry, string>;
  /** `[partition, key]` → nothing: which keys a partition holds, in key order. */
  private readonly byPartition: Database<Buffer, [number, string]>;
  private readonly digests: Database<Buffer, number>;
  private readonly refs: Database<number, string>;
  /** Layout 2's inline blobs, bytes in LMDB: still read, never written. */
  private readonly inline: Database<Buffer, string>;
  /** sha256 → where its bytes are in the packs. */
  private readonly inlineAt: Database<PackLocation, string>;
  /** segment → bytes of its records still referenced (headers included). */
  private readonly packLive: Database<number, number>;
  private readonly packs: PackStore;
  /** The segment being compacted and where in it, across steps. */
  private compacting?: { segment: number; offset: number };
  /**
   * Segments a pass left live records in (they failed their hash, or follow a damaged record), with their live bytes
   * then: not picked again until that changes (repair or a delete), so one bad record cannot hold compaction.
   */
  private readonly stuck = new Map<number, number>();
  /** Whether `inline` (layout 2's inline blobs) holds anything: nothing is written there again, so once empty, never. */
  private legacyHeld = false;
  /** Where the move of those blobs into the packs is; undefined once a pass is over. */
  private legacyFrom?: string;
  private readonly logger = new Logger('LmdbEntryIndex');
  private readonly meta: Database<unknown, string>;
  /** Tombstones by the time of their version: GC reads only the expired ones, whatever the number of live files. */
  private readonly tombstones: Database<null, [number, string]>;

  constructor(private readonly env: LmdbEnvironment) {
    this.entries = env.openDB('entries');
    this.byPartition = env.openDB('by-partition', { encoding: 'binary' });
    this.digests = env.openDB('digests', { encoding: 'binary' });
    this.refs = env.openDB('refs');
    this.inline = env.openDB('inline', { encoding: 'binary' });
    this.inlineAt = env.openDB('inline-at');
    this.packLive = env.openDB('pack-live');
    this.meta = env.openDB('meta');
    this.tombstones = env.openDB('tombstones');
    this.migrate();
    this.packs = new PackStore(join(env.dataDir, 'packs'));
    this.legacyHeld = this.holdsLegacyInline();
    if (this.legacyHeld) this.legacyFrom = '';
  }

  /**
   * Layout 1 → 2: `counters` and `hlc` become the one `state` record; 2 → 3 only moves the marker (layout 2's inline
   * blobs stay where they are, read as before). Idempotent; a new store just gets its marker. An older version must
   * not open a store of layout 3: it would not find the inline blobs in the packs.
   */
  private migrate(): void {
    if (this.meta.get(LAYOUT) === LAYOUT_VERSION) return;
    this.env.transactionSync(() => {
      if (this.meta.get(STATE) === undefined) {
        const counters = (this.meta.get('counters') as Counters | undefined) ?? { files: 0, bytes: 0 };
        const hlc = this.meta.get('hlc') as Version | undefined;
        this.meta.putSync(STATE, { files: counters.files, bytes: counters.bytes, ...(hlc ? { hlc } : {}) } satisfies IndexState);
      }
      this.meta.removeSync('counters');
      this.meta.removeSync('hlc');
      this.meta.putSync(LAYOUT, LAYOUT_VERSION);
    });
  }

  private state(): IndexState {
    return (this.meta.get(STATE) as IndexState | undefined) ?? { files: 0, bytes: 0 };
  }

  get(key: string): Entry | undefined {
    return this.entries.get(key);
  }

  /**
   * Small bytes are appended to the packs first, then the transaction makes them durable and commits their
   * location. They are appended only when the entry would apply and they are not held yet — judged before the
   * transaction, so the transaction checks again: bytes it needs but was not given (a delete freed them in between)
   * make it end without writing and go round once more, this time with the bytes appended.
   */
  async apply(entry: Entry, partition: number, inlineData?: Buffer): Promise<ApplyResult> {
    let appended: Appended | undefined;
    try {
      if (inlineData && !entry.deleted && this.wouldApply(entry) && !this.hasInline(entry.sha256)) appended = await this.packs.append(entry.sha256, inlineData);
      for (;;) {
        const at = appended?.at;
        const result = await this.env.transaction(() => this.applySync(entry, partition, inlineData !== undefined, at));
        if (result !== NEEDS_BYTES) return result;
        appended = await this.packs.append(entry.sha256, inlineData!);
      }
    } catch (err) {
      throw fromIoError(err); // a full disk is INSUFFICIENT_STORAGE, as for a large upload
    } finally {
      appended?.release();
    }
  }

  private wouldApply(entry: Entry): boolean {
    const held = this.entries.get(entry.key);
    return !held || compareVersions(entry.version, held.version) > 0;
  }

  private applySync(entry: Entry, partition: number, inline: boolean, at: PackLocation | undefined): ApplyResult | typeof NEEDS_BYTES {
    const previous = this.entries.get(entry.key);
    if (previous && compareVersions(previous.version, entry.version) >= 0) return { applied: false, previous, freed: [] };
    if (inline && !entry.deleted && at === undefined && !this.hasInline(entry.sha256)) return NEEDS_BYTES;
    // Before any write: a callback that throws does not undo its writes in lmdb-js's batch.
    if (at) this.packs.makeDurable(at);
    const freed: string[] = [];
    if (!entry.deleted) this.addRef(entry.sha256, at);
    if (previous && !previous.deleted) this.dropRef(previous.sha256, freed);
    this.entries.putSync(entry.key, entry);
    if (!previous) this.byPartition.putSync([partition, entry.key], NO_VALUE);
    if (previous?.deleted) this.tombstones.removeSync([versionTime(previous.version), entry.key]);
    if (entry.deleted) this.tombstones.putSync([versionTime(entry.version), entry.key], null);
    const digest = Buffer.from(this.digests.get(partition) ?? ZERO_DIGEST);
    if (previous) xorInto(digest, entryHash(previous));
    xorInto(digest, entryHash(entry));
    this.digests.putSync(partition, digest);
    const s = this.state();
    if (previous && !previous.deleted) {
      s.files--;
      s.bytes -= previous.size;
    }
    if (!entry.deleted) {
      s.files++;
      s.bytes += entry.size;
    }
    if (!s.hlc || compareVersions(entry.version, s.hlc) > 0) s.hlc = entry.version;
    this.meta.putSync(STATE, s);
    return { applied: true, previous, freed };
  }

  purge(key: string, partition: number, expectedVersion: Version): Promise<ApplyResult> {
    return this.env.transaction(() => {
      const previous = this.entries.get(key);
      if (!previous || previous.version !== expectedVersion) return { applied: false, previous, freed: [] };
      const freed: string[] = [];
      if (!previous.deleted) {
        this.dropRef(previous.sha256, freed);
        const s = this.state();
        s.files--;
        s.bytes -= previous.size;
        this.meta.putSync(STATE, s);
      }
      this.entries.removeSync(key);
      this.byPartition.removeSync([partition, key]);
      if (previous.deleted) this.tombstones.removeSync([versionTime(previous.version), key]);
      const digest = Buffer.from(this.digests.get(partition) ?? ZERO_DIGEST);
      xorInto(digest, entryHash(previous));
      this.digests.putSync(partition, digest);
      return { applied: true, previous, freed };
    });
  }

  /** `at`: where the bytes of an inline blob were appended, if they were (they are garbage if already held). */
  private addRef(sha256: string, at: PackLocation | undefined): void {
    const n = this.refs.get(sha256) ?? 0;
    this.refs.putSync(sha256, n + 1);
    // Bytes go with their first reference; with more, they may have been put back (putInline) or still be in place.
    if (at && (n === 0 || !this.hasInline(sha256))) this.placeInline(sha256, at);
  }

  private dropRef(sha256: string, freed: string[]): void {
    const n = (this.refs.get(sha256) ?? 1) - 1;
    if (n > 0) {
      this.refs.putSync(sha256, n);
      return;
    }
    this.refs.removeSync(sha256);
    // Inline bytes go with their last reference; a blob that was not inline is a file for the caller to remove.
    if (!this.unplaceInline(sha256) && !(this.legacyHeld && this.inline.removeSync(sha256))) freed.push(sha256);
  }

  /** Records where an inline blob's bytes are, and counts them live in their segment. In a transaction. */
  private placeInline(sha256: string, at: PackLocation): void {
    this.inlineAt.putSync(sha256, at);
    this.countLive(at, 1);
  }

  /** Forgets where an inline blob's bytes were (they become garbage); false if they were not in the packs. */
  private unplaceInline(sha256: string): boolean {
    const at = this.inlineAt.get(sha256);
    if (!at) return false;
    this.inlineAt.removeSync(sha256);
    this.countLive(at, -1);
    return true;
  }

  private countLive([segment, , length]: PackLocation, sign: 1 | -1): void {
    const live = (this.packLive.get(segment) ?? 0) + sign * (RECORD_HEADER_BYTES + length);
    if (live > 0) this.packLive.putSync(segment, live);
    else this.packLive.removeSync(segment);
  }

  /** Puts back the bytes of a referenced inline blob (re-fetched after its copy was found corrupt or unreadable). */
  async putInline(sha256: string, data: Buffer): Promise<void> {
    const appended = await this.packs.append(sha256, data);
    try {
      await this.env.transaction(() => {
        if (this.refCount(sha256) === 0) return; // freed meanwhile: the appended bytes are garbage
        this.packs.makeDurable(appended.at);
        this.unplaceInline(sha256);
        this.inline.removeSync(sha256);
        this.placeInline(sha256, appended.at);
      });
    } finally {
      appended.release();
    }
  }

  refCount(sha256: string): number {
    return this.refs.get(sha256) ?? 0;
  }

  /**
   * The bytes of an inline blob. A pack that cannot be read (an I/O error, a segment gone) gives an empty buffer
   * rather than throwing: its hash check fails, so the read is handled as a corrupt copy — another owner serves it
   * and blob repair fetches the bytes back into the packs.
   */
  getInline(sha256: string): Buffer | undefined {
    const at = this.inlineAt.get(sha256);
    if (!at) return this.legacyHeld ? (this.inline.getBinary(sha256) ?? undefined) : undefined;
    try {
      return this.packs.read(at);
    } catch (err) {
      this.logger.error({ err, sha256, at }, 'an inline blob could not be read from its pack');
      return Buffer.alloc(0);
    }
  }

  inlineSize(sha256: string): number | undefined {
    const at = this.inlineAt.get(sha256);
    if (at) return at[2];
    return this.legacyHeld ? this.inline.getBinary(sha256)?.length : undefined;
  }

  hasInline(sha256: string): boolean {
    return this.inlineAt.doesExist(sha256) || (this.legacyHeld && this.inline.doesExist(sha256));
  }

  /**
   * One bounded step of reclaiming pack space (a worker drives it): deletes sealed segments nothing references any
   * more, then copies up to `budgetBytes` of the still-referenced records of the emptiest sealed segment (or a small
   * one, left by a restart) to the active segment, moving their locations in one transaction. A record that fails
   * its hash is left where it is (its segment stays; the scrubber finds it and repair puts fresh bytes back).
   * Segments with appends whose transaction has not ended are never touched. With no segment to compact, the step
   * moves inline blobs LMDB still holds (layout 2) into the packs instead.
   */
  async compact(budgetBytes: number): Promise<CompactionStep> {
    let removed = 0;
    for (const { segment } of this.packs.sealed()) {
      if (this.packs.pending(segment) || this.packLive.get(segment) !== undefined || segment === this.compacting?.segment) continue;
      this.packs.remove(segment);
      removed++;
    }
    this.compacting ??= this.pickSegment();
    const job = this.compacting;
    if (!job) {
      const movedBytes = await this.moveLegacyInline(budgetBytes);
      return { more: this.legacyFrom !== undefined, removedSegments: removed, movedBytes };
    }
    const { records, next, done } = await this.packs.records(job.segment, job.offset, budgetBytes);
    const live = records.filter((r) => sameLocation(this.inlineAt.get(r.sha256), r.at));
    const movedBytes = await this.relocate(live, (r, at) => {
      if (!sameLocation(this.inlineAt.get(r.sha256), r.at)) return false; // freed or replaced meanwhile
      this.unplaceInline(r.sha256);
      this.placeInline(r.sha256, at);
      return true;
    });
    job.offset = next;
    if (done) {
      this.compacting = undefined;
      const left = this.packLive.get(job.segment);
      if (left !== undefined) {
        this.stuck.set(job.segment, left);
        this.logger.warn({ segment: job.segment, liveBytes: left }, 'a compacted pack segment still holds records it could not move; left for the scrubber and repair');
      }
    }
    return { more: true, removedSegments: removed, movedBytes };
  }

  /**
   * Layout 2 → 3 in the background: up to `budgetBytes` of the inline blobs LMDB still holds are appended to the packs
   * and their locations committed in place of the bytes (each read hits either, so nothing waits for the move). A
   * copy that fails its hash stays where it is, for the read path and the scrubber to find.
   */
  private async moveLegacyInline(budgetBytes: number): Promise<number> {
    if (this.legacyFrom === undefined) return 0;
    const batch: { sha256: string; data: Buffer }[] = [];
    let bytes = 0;
    for (const { key, value } of this.inline.getRange({ start: this.legacyFrom })) {
      batch.push({ sha256: key, data: Buffer.from(value) });
      bytes += value.length;
      if (bytes >= budgetBytes || batch.length >= 256) break;
    }
    if (batch.length === 0) {
      this.legacyFrom = undefined;
      this.legacyHeld = this.holdsLegacyInline(); // copies that failed their hash stay, until repair replaces them
      return 0;
    }
    this.legacyFrom = `${batch[batch.length - 1].sha256}\u0000`;
    return this.relocate(batch, (b, at) => {
      if (!this.inline.doesExist(b.sha256) || this.inlineAt.doesExist(b.sha256)) return false; // freed or restored meanwhile
      this.inline.removeSync(b.sha256);
      if (this.refCount(b.sha256) === 0) return false;
      this.placeInline(b.sha256, at);
      return true;
    });
  }

  /**
   * Appends the bytes of `candidates` that pass their hash to the packs (a copy that fails stays where it is, for the
   * read path and the scrubber to find), then in one transaction makes them durable and lets `place` point each item
   * at its new copy if it still should (false: the copy is garbage). The bytes placed.
   */
  private async relocate<T extends { sha256: string; data: Buffer }>(candidates: T[], place: (item: T, at: PackLocation) => boolean): Promise<number> {
    const items = candidates.filter((b) => hash('sha256', b.data) === b.sha256);
    const settled = await Promise.allSettled(items.map((b) => this.packs.append(b.sha256, b.data)));
    const appended = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      for (const a of appended) a.release(); // garbage now; their segment must not stay "pending"
      throw failed.reason;
    }
    let placed = 0;
    try {
      await this.env.transaction(() => {
        for (const a of appended) this.packs.makeDurable(a.at);
        items.forEach((item, i) => {
          if (place(item, appended[i].at)) placed += item.data.length;
        });
      });
    } finally {
      for (const a of appended) a.release();
    }
    return placed;
  }

  packUsage(): PackUsage {
    const segments = this.packs.segments();
    let liveBytes = 0;
    for (const { value } of this.packLive.getRange({})) liveBytes += value;
    return { segments: segments.length, bytes: segments.reduce((n, s) => n + s.bytes, 0), liveBytes };
  }

  private holdsLegacyInline(): boolean {
    for (const _ of this.inline.getKeys({ limit: 1 })) return true;
    return false;
  }

  private pickSegment(): { segment: number; offset: number } | undefined {
    let best: { segment: number; share: number } | undefined;
    for (const { segment, bytes } of this.packs.sealed()) {
      if (this.packs.pending(segment) || bytes === 0) continue;
      const live = this.packLive.get(segment) ?? 0;
      if (this.stuck.has(segment) && this.stuck.get(segment) === live) continue;
      this.stuck.delete(segment);
      const share = live / bytes;
      if (share === 0) continue; // removed at the next step
      if (share >= COMPACT_BELOW_LIVE && bytes >= SMALL_SEGMENT) continue;
      if (!best || share < best.share) best = { segment, share };
    }
    return best && { segment: best.segment, offset: 0 };
  }

  /** Closes the pack files (specs that reopen a data dir in one process); the LMDB environment is closed apart. */
  close(): void {
    this.packs.close();
  }

  counters(): Counters {
    const { files, bytes } = this.state();
    return { files, bytes };
  }

  clockHighWater(): Version | undefined {
    return this.state().hlc;
  }

  *scan(start: string, limit = Infinity): Generator<Entry> {
    let n = 0;
    for (const { value } of this.entries.getRange({ start })) {
      if (n++ >= limit) return;
      yield value;
    }
  }

  *scanPartition(partition: number, afterKey?: string): Generator<Entry> {
    const start: [number, string] = [partition, afterKey === undefined ? '' : `${afterKey}\u0000`];
    for (const key of this.byPartition.getKeys({ start, end: [partition + 1, ''] })) {
      const e = this.entries.get(key[1]);
      if (e) yield e;
    }
  }

  expiredTombstones(beforeMs: number, limit: number): Entry[] {
    const out: Entry[] = [];
    for (const { key } of this.tombstones.getRange({ start: [0, ''], end: [beforeMs, ''], limit })) {
      const e = this.entries.get(key[1]);
      if (e?.deleted) out.push(e);
    }
    return out;
  }

  digest(partition: number): Buffer {
    return this.digests.get(partition) ?? ZERO_DIGEST;
  }

  *partitions(): Generator<number> {
    for (const { key } of this.digests.getRange({})) yield key;
  }

  entryCount(): number {
    return this.entries.getCount();
  }
}

function sameLocation(a: PackLocation | undefined, b: PackLocation): boolean {
  return a !== undefined && a[0] === b[0] && a[1] === b[1] && a[2] === b[2];
}
