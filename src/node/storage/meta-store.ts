import { open, type Database, type RootDatabase } from 'lmdb';
import { compareVersions, versionTime, type Version } from './hlc.js';
import { entryHash, xorInto, type Entry } from './entry.js';

export interface ApplyResult {
  /** false when the store already held this version or a newer one (last writer wins; idempotent). */
  applied: boolean;
  previous?: Entry;
  /** Blobs whose last reference this transaction dropped: the caller unlinks their files. */
  freed: string[];
}

interface Counters {
  files: number;
  bytes: number;
}

const ZERO_DIGEST = Buffer.alloc(32);

/**
 * The node's metadata in one LMDB environment (`DATA_DIR/meta/`): entries by key, entries by partition, partition
 * digests, blob reference counts, inline blobs, counters and the clock's high-water mark. Every entry change updates
 * all of them in the same transaction, so a crash leaves either the old state or the new one — never a digest that
 * disagrees with the entries.
 *
 * Writes go through lmdb-js's asynchronous transactions, which it batches: concurrent small uploads share one commit
 * and one fsync (group commit).
 */
export class MetaStore {
  private readonly root: RootDatabase;
  private readonly entries: Database<Entry, string>;
  private readonly byPartition: Database<Entry, [number, string]>;
  private readonly digests: Database<Buffer, number>;
  private readonly refs: Database<number, string>;
  private readonly inline: Database<Buffer, string>;
  private readonly meta: Database<unknown, string>;
  /** Tombstones by the time of their version: GC reads only the expired ones, whatever the number of live files. */
  private readonly tombstones: Database<null, [number, string]>;

  constructor(path: string) {
    this.root = open({ path, maxDbs: 16, mapSize: 2 ** 34, remapChunks: true });
    this.entries = this.root.openDB({ name: 'entries' });
    this.byPartition = this.root.openDB({ name: 'by-partition' });
    this.digests = this.root.openDB({ name: 'digests', encoding: 'binary' });
    this.refs = this.root.openDB({ name: 'refs' });
    this.inline = this.root.openDB({ name: 'inline', encoding: 'binary' });
    this.meta = this.root.openDB({ name: 'meta' });
    this.tombstones = this.root.openDB({ name: 'tombstones' });
  }

  async close(): Promise<void> {
    await this.root.close();
  }

  /** Another named database in the same environment, for bookkeeping of the layers above (hints, sync state). */
  auxiliary<V, K extends string | number | (string | number)[]>(name: string): Database<V, K> {
    return this.root.openDB<V, K>({ name: `aux-${name}` });
  }

  get(key: string): Entry | undefined {
    return this.entries.get(key);
  }

  /**
   * Applies `entry` if it is newer than what the store holds. `inlineData` is the content of a small blob kept in
   * the store itself; a larger blob must already be in place on disk.
   */
  apply(entry: Entry, partition: number, inlineData?: Buffer): Promise<ApplyResult> {
    return this.root.transaction(() => this.applySync(entry, partition, inlineData));
  }

  private applySync(entry: Entry, partition: number, inlineData?: Buffer): ApplyResult {
    const previous = this.entries.get(entry.key);
    if (previous && compareVersions(previous.version, entry.version) >= 0) return { applied: false, previous, freed: [] };
    const freed: string[] = [];
    if (!entry.deleted) this.addRef(entry.sha256, inlineData);
    if (previous && !previous.deleted) this.dropRef(previous.sha256, freed);
    this.entries.putSync(entry.key, entry);
    this.byPartition.putSync([partition, entry.key], entry);
    if (previous?.deleted) this.tombstones.removeSync([versionTime(previous.version), entry.key]);
    if (entry.deleted) this.tombstones.putSync([versionTime(entry.version), entry.key], null);
    const digest = Buffer.from(this.digests.get(partition) ?? ZERO_DIGEST);
    if (previous) xorInto(digest, entryHash(previous));
    xorInto(digest, entryHash(entry));
    this.digests.putSync(partition, digest);
    const c = this.counters();
    if (previous && !previous.deleted) {
      c.files--;
      c.bytes -= previous.size;
    }
    if (!entry.deleted) {
      c.files++;
      c.bytes += entry.size;
    }
    this.meta.putSync('counters', c);
    const hw = this.meta.get('hlc') as Version | undefined;
    if (!hw || compareVersions(entry.version, hw) > 0) this.meta.putSync('hlc', entry.version);
    return { applied: true, previous, freed };
  }

  /** Erases an entry outright (tombstone GC, or a partition handed off): no tombstone is left behind. */
  purge(key: string, partition: number, expectedVersion: Version): Promise<ApplyResult> {
    return this.root.transaction(() => {
      const previous = this.entries.get(key);
      if (!previous || previous.version !== expectedVersion) return { applied: false, previous, freed: [] };
      const freed: string[] = [];
      if (!previous.deleted) {
        this.dropRef(previous.sha256, freed);
        const c = this.counters();
        c.files--;
        c.bytes -= previous.size;
        this.meta.putSync('counters', c);
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

  private addRef(sha256: string, inlineData?: Buffer): void {
    const n = this.refs.get(sha256) ?? 0;
    this.refs.putSync(sha256, n + 1);
    if (inlineData && !this.inline.doesExist(sha256)) this.inline.putSync(sha256, inlineData);
  }

  private dropRef(sha256: string, freed: string[]): void {
    const n = (this.refs.get(sha256) ?? 1) - 1;
    if (n > 0) {
      this.refs.putSync(sha256, n);
      return;
    }
    this.refs.removeSync(sha256);
    if (this.inline.doesExist(sha256)) this.inline.removeSync(sha256);
    else freed.push(sha256);
  }

  putInline(sha256: string, data: Buffer): Promise<boolean> {
    return this.inline.put(sha256, data);
  }

  refCount(sha256: string): number {
    return this.refs.get(sha256) ?? 0;
  }

  getInline(sha256: string): Buffer | undefined {
    return this.inline.getBinary(sha256) ?? undefined;
  }

  hasInline(sha256: string): boolean {
    return this.inline.doesExist(sha256);
  }

  counters(): Counters {
    return { ...((this.meta.get('counters') as Counters | undefined) ?? { files: 0, bytes: 0 }) };
  }

  clockHighWater(): Version | undefined {
    return this.meta.get('hlc') as Version | undefined;
  }

  /** Entries in key order from `start` (inclusive), deleted ones included. */
  *scan(start: string, limit = Infinity): Generator<Entry> {
    let n = 0;
    for (const { value } of this.entries.getRange({ start })) {
      if (n++ >= limit) return;
      yield value;
    }
  }

  /** Entries of one partition in key order, after `afterKey`. */
  *scanPartition(partition: number, afterKey?: string): Generator<Entry> {
    const start: [number, string] = [partition, afterKey === undefined ? '' : `${afterKey}\u0000`];
    for (const { value } of this.byPartition.getRange({ start, end: [partition + 1, ''] })) yield value;
  }

  /** Tombstones whose version is older than `beforeMs`, oldest first, at most `limit`. */
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

  /** Partitions holding at least one entry. */
  *partitions(): Generator<number> {
    for (const { key } of this.digests.getRange({})) yield key;
  }

  entryCount(): number {
    return this.entries.getCount();
  }
}
