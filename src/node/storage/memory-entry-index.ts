import { entryHash, xorInto, type Entry } from './entry.js';
import { ZERO_DIGEST, type ApplyResult, type CompactionStep, type Counters, type EntryIndex, type PackUsage } from './entry-index.js';
import { compareVersions, versionTime, type Version } from './hlc.js';
import { compareKeys } from './keys.js';

/**
 * The {@link EntryIndex} in memory, for specs: the same answers as {@link LmdbEntryIndex} (same key order, same digest,
 * same reference counting and ApplyResult), checked by the shared table in entry-index.cases.ts. Each change is applied
 * whole before the returned promise settles, as one LMDB transaction would be. Entries are copied in and out, as
 * LMDB's encoding does, so a caller mutating what it got back cannot change what is stored.
 */
export class MemoryEntryIndex implements EntryIndex {
  private readonly entries = new Map<string, Entry>();
  /** Keys in compareKeys order, kept sorted on insert so scans cost what LMDB's do (a seek, then a walk). */
  private readonly keys: string[] = [];
  /** The partition each key was applied under, and each partition's keys in order (LMDB's by-partition index). */
  private readonly partitionOf = new Map<string, number>();
  private readonly byPartition = new Map<number, string[]>();
  private readonly digests = new Map<number, Buffer>();
  private readonly refs = new Map<string, number>();
  private readonly inline = new Map<string, Buffer>();
  private count: Counters = { files: 0, bytes: 0 };
  private highWater?: Version;

  get(key: string): Entry | undefined {
    const e = this.entries.get(key);
    return e && copy(e);
  }

  apply(entry: Entry, partition: number, inlineData?: Buffer): Promise<ApplyResult> {
    const previous = this.get(entry.key);
    if (previous && compareVersions(previous.version, entry.version) >= 0) return Promise.resolve({ applied: false, previous, freed: [] });
    const freed: string[] = [];
    if (!entry.deleted) this.addRef(entry.sha256, inlineData);
    if (previous && !previous.deleted) this.dropRef(previous.sha256, freed);
    if (!previous) insertSorted(this.keys, entry.key);
    if (this.partitionOf.get(entry.key) !== partition) {
      const keys = this.byPartition.get(partition) ?? [];
      insertSorted(keys, entry.key);
      this.byPartition.set(partition, keys);
      this.partitionOf.set(entry.key, partition);
    }
    this.entries.set(entry.key, copy(entry));
    const digest = Buffer.from(this.digest(partition));
    if (previous) xorInto(digest, entryHash(previous));
    xorInto(digest, entryHash(entry));
    this.digests.set(partition, digest);
    if (previous && !previous.deleted) this.count = { files: this.count.files - 1, bytes: this.count.bytes - previous.size };
    if (!entry.deleted) this.count = { files: this.count.files + 1, bytes: this.count.bytes + entry.size };
    if (!this.highWater || compareVersions(entry.version, this.highWater) > 0) this.highWater = entry.version;
    return Promise.resolve({ applied: true, previous, freed });
  }

  purge(key: string, partition: number, expectedVersion: Version): Promise<ApplyResult> {
    const previous = this.get(key);
    if (!previous || previous.version !== expectedVersion) return Promise.resolve({ applied: false, previous, freed: [] });
    const freed: string[] = [];
    if (!previous.deleted) {
      this.dropRef(previous.sha256, freed);
      this.count = { files: this.count.files - 1, bytes: this.count.bytes - previous.size };
    }
    this.entries.delete(key);
    this.partitionOf.delete(key);
    this.keys.splice(indexOf(this.keys, key), 1);
    const inPartition = this.byPartition.get(partition) ?? [];
    inPartition.splice(indexOf(inPartition, key), 1);
    const digest = Buffer.from(this.digest(partition));
    xorInto(digest, entryHash(previous));
    this.digests.set(partition, digest);
    return Promise.resolve({ applied: true, previous, freed });
  }

  putInline(sha256: string, data: Buffer): Promise<void> {
    this.inline.set(sha256, Buffer.from(data));
    return Promise.resolve();
  }

  compact(): Promise<CompactionStep> {
    return Promise.resolve({ more: false, removedSegments: 0, movedBytes: 0 });
  }

  packUsage(): PackUsage {
    return { segments: 0, bytes: 0, liveBytes: 0 };
  }

  refCount(sha256: string): number {
    return this.refs.get(sha256) ?? 0;
  }

  getInline(sha256: string): Buffer | undefined {
    const data = this.inline.get(sha256);
    return data && Buffer.from(data);
  }

  inlineSize(sha256: string): number | undefined {
    return this.inline.get(sha256)?.length;
  }

  hasInline(sha256: string): boolean {
    return this.inline.has(sha256);
  }

  counters(): Counters {
    return { ...this.count };
  }

  clockHighWater(): Version | undefined {
    return this.highWater;
  }

  /** Over a snapshot of the keys, as LMDB's read transaction is: writes during the walk do not shift it. */
  *scan(start: string, limit = Infinity): Generator<Entry> {
    const from = indexOf(this.keys, start);
    for (const key of this.keys.slice(from, limit === Infinity ? undefined : from + limit)) {
      const e = this.entries.get(key);
      if (e) yield copy(e);
    }
  }

  *scanPartition(partition: number, afterKey?: string): Generator<Entry> {
    const keys = this.byPartition.get(partition) ?? [];
    for (const key of keys.slice(afterKey === undefined ? 0 : indexOf(keys, `${afterKey}\u0000`))) {
      const e = this.entries.get(key);
      if (e) yield copy(e);
    }
  }

  expiredTombstones(beforeMs: number, limit: number): Entry[] {
    return [...this.entries.values()]
      .filter((e) => e.deleted && versionTime(e.version) < beforeMs)
      .sort((a, b) => versionTime(a.version) - versionTime(b.version) || compareKeys(a.key, b.key))
      .slice(0, limit)
      .map(copy);
  }

  digest(partition: number): Buffer {
    return Buffer.from(this.digests.get(partition) ?? ZERO_DIGEST);
  }

  *partitions(): Generator<number> {
    yield* [...this.digests.keys()].sort((a, b) => a - b);
  }

  entryCount(): number {
    return this.entries.size;
  }

  private addRef(sha256: string, inlineData?: Buffer): void {
    this.refs.set(sha256, (this.refs.get(sha256) ?? 0) + 1);
    if (inlineData && !this.inline.has(sha256)) this.inline.set(sha256, Buffer.from(inlineData));
  }

  private dropRef(sha256: string, freed: string[]): void {
    const n = (this.refs.get(sha256) ?? 1) - 1;
    if (n > 0) {
      this.refs.set(sha256, n);
      return;
    }
    this.refs.delete(sha256);
    if (this.inline.has(sha256)) this.inline.delete(sha256);
    else freed.push(sha256);
  }
}

/** The first position in the sorted `keys` whose key sorts at or after `key`. */
function indexOf(keys: string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(keys[mid], key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function insertSorted(keys: string[], key: string): void {
  keys.splice(indexOf(keys, key), 0, key);
}

function copy(e: Entry): Entry {
  return structuredClone(e);
}
