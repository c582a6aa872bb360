import type { Entry } from './entry.js';
import type { Version } from './hlc.js';

export interface ApplyResult {
  /** false when the store already held this version or a newer one (last writer wins; idempotent). */
  applied: boolean;
  previous?: Entry;
  /** Blobs whose last reference this transaction dropped: the caller removes their files. */
  freed: string[];
}

/** Live files and their bytes (tombstones are neither). */
export interface Counters {
  files: number;
  bytes: number;
}

/** A page of entries in key order, and whether more follow. */
export interface EntryPage {
  entries: Entry[];
  truncated: boolean;
}

/** What one step of {@link EntryIndex.compact} did, and whether there is more to do. */
export interface CompactionStep {
  more: boolean;
  removedSegments: number;
  movedBytes: number;
}

/** How much the store's pack files hold: every byte of their segments, and the bytes still referenced. */
export interface PackUsage {
  segments: number;
  bytes: number;
  liveBytes: number;
}

export const ZERO_DIGEST: Readonly<Buffer> = Buffer.alloc(32);

/**
 * The read side of the node's metadata: what anti-entropy, handover, tombstone GC and recovery query. Every answer
 * reflects committed transactions only. Keys are ordered as {@link compareKeys} says (UTF-8 bytes, LMDB's order).
 */
export interface EntryReader {
  get(key: string): Entry | undefined;
  /** Entries in key order from `start` (inclusive), deleted ones included; at most `limit`. */
  scan(start: string, limit?: number): Iterable<Entry>;
  /** Entries of one partition in key order, strictly after `afterKey`. */
  scanPartition(partition: number, afterKey?: string): Iterable<Entry>;
  /** Tombstones whose version is older than `beforeMs`, oldest first (then by key), at most `limit`. */
  expiredTombstones(beforeMs: number, limit: number): Entry[];
  /** XOR of {@link entryHash} over the partition's entries; all zeros when it holds none. */
  digest(partition: number): Buffer;
  /** Partitions that ever held an entry, ascending (an emptied one keeps its all-zero digest). */
  partitions(): Iterable<number>;
  /** Entries held, tombstones included. */
  entryCount(): number;
  counters(): Counters;
  /** How many entries reference the content `sha256`. */
  refCount(sha256: string): number;
  /** The bytes of a small blob kept inline (DESIGN §4), if this one is. */
  getInline(sha256: string): Buffer | undefined;
  hasInline(sha256: string): boolean;
  /** The size of a small blob kept inline, without reading it. */
  inlineSize(sha256: string): number | undefined;
  /** The highest version ever committed: the clock moves past it at start-up. */
  clockHighWater(): Version | undefined;
}

/**
 * The node's metadata: entries by key and by partition, partition digests, reference counts, inline blobs, counters
 * and the clock's high-water mark, all changed together in one transaction per entry — a crash leaves either the old
 * state or the new, never a digest that disagrees with the entries. LMDB on disk, a Map in specs; both pass the same
 * behavioural table (entry-index.cases.ts).
 *
 * Inline blobs live here rather than in the {@link BlobStore}: they are added and freed in the same transaction as the
 * reference that needs them, so a small upload is one batched commit and one fsync (group commit), and an inline blob
 * can never be orphaned.
 */
export interface EntryIndex extends EntryReader {
  /**
   * Applies `entry` if it is newer than what is held (last writer wins). `inlineData` is the content of a small blob
   * kept inline; a larger blob must already be in place in the blob store.
   */
  apply(entry: Entry, partition: number, inlineData?: Buffer): Promise<ApplyResult>;
  /** Erases an entry outright, only at `expectedVersion` (tombstone GC, handover): no tombstone is left behind. */
  purge(key: string, partition: number, expectedVersion: Version): Promise<ApplyResult>;
  /** Puts back the bytes of an inline blob (after it was found corrupt and re-fetched). */
  putInline(sha256: string, data: Buffer): Promise<void>;
  /**
   * One bounded step (about `budgetBytes` read) of reclaiming the space of inline blobs that deletes and overwrites
   * freed, where the store needs it (the LMDB one's pack files; the memory one frees at once).
   */
  compact(budgetBytes: number): Promise<CompactionStep>;
  /** What the pack files hold (all zeros for a store without them). */
  packUsage(): PackUsage;
}

export const ENTRY_INDEX = Symbol('ENTRY_INDEX');

/** A page of one partition's entries (tombstones included) in key order, after `after`. */
export function partitionPage(index: EntryReader, partition: number, after: string | undefined, limit: number): EntryPage {
  const entries: Entry[] = [];
  for (const e of index.scanPartition(partition, after)) {
    entries.push(e);
    if (entries.length > limit) break;
  }
  return { entries: entries.slice(0, limit), truncated: entries.length > limit };
}
