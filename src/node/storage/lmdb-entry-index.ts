import type { Database } from 'lmdb';
import { compareVersions, versionTime, type Version } from './hlc.js';
import { entryHash, xorInto, type Entry } from './entry.js';
import { ZERO_DIGEST, type ApplyResult, type Counters, type EntryIndex } from './entry-index.js';
import type { LmdbEnvironment } from './lmdb-environment.js';

/** The one record of the index's own state in `meta`: the counters and the clock's high-water mark, written together. */
const STATE = 'state';
/** Layout 1 kept them in two records (and whole entries in `by-partition`); a store opened here is moved to layout 2. */
const LAYOUT = 'layout';
const LAYOUT_VERSION = 2;
const NO_VALUE = Buffer.alloc(0);

interface IndexState extends Counters {
  hlc?: Version;
}

/**
 * The {@link EntryIndex} in the node's LMDB environment (`DATA_DIR/meta/`): entries by key, the keys of each partition,
 * partition digests, blob reference counts, inline blobs, the index's state (counters and the clock's high-water
 * mark) and the tombstones by time. Every entry change updates all of them in the same transaction, so a crash
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
 */
export class LmdbEntryIndex implements EntryIndex {
  private readonly entries: Database<Entry, string>;
  /** `[partition, key]` → nothing: which keys a partition holds, in key order. */
  private readonly byPartition: Database<Buffer, [number, string]>;
  private readonly digests: Database<Buffer, number>;
  private readonly refs: Database<number, string>;
  private readonly inline: Database<Buffer, string>;
  private readonly meta: Database<unknown, string>;
  /** Tombstones by the time of their version: GC reads only the expired ones, whatever the number of live files. */
  private readonly tombstones: Database<null, [number, string]>;

  constructor(private readonly env: LmdbEnvironment) {
    this.entries = env.openDB('entries');
    this.byPartition = env.openDB('by-partition', { encoding: 'binary' });
    this.digests = env.openDB('digests', { encoding: 'binary' });
    this.refs = env.openDB('refs');
    this.inline = env.openDB('inline', { encoding: 'binary' });
    this.meta = env.openDB('meta');
    this.tombstones = env.openDB('tombstones');
    this.migrate();
  }

  /** Layout 1 → 2: `counters` and `hlc` become the one `state` record. Idempotent; a new store just gets its marker. */
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

  apply(entry: Entry, partition: number, inlineData?: Buffer): Promise<ApplyResult> {
    return this.env.transaction(() => this.applySync(entry, partition, inlineData));
  }

  private applySync(entry: Entry, partition: number, inlineData?: Buffer): ApplyResult {
    const previous = this.entries.get(entry.key);
    if (previous && compareVersions(previous.version, entry.version) >= 0) return { applied: false, previous, freed: [] };
    const freed: string[] = [];
    if (!entry.deleted) this.addRef(entry.sha256, inlineData);
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

  private addRef(sha256: string, inlineData?: Buffer): void {
    const n = this.refs.get(sha256) ?? 0;
    this.refs.putSync(sha256, n + 1);
    // A first reference brings its bytes; a later one finds them in place (asked only then, not on every upload).
    if (inlineData && (n === 0 || !this.inline.doesExist(sha256))) this.inline.putSync(sha256, inlineData);
  }

  private dropRef(sha256: string, freed: string[]): void {
    const n = (this.refs.get(sha256) ?? 1) - 1;
    if (n > 0) {
      this.refs.putSync(sha256, n);
      return;
    }
    this.refs.removeSync(sha256);
    // Inline bytes go with their last reference; a blob that was not inline is a file for the caller to remove.
    if (!this.inline.removeSync(sha256)) freed.push(sha256);
  }

  async putInline(sha256: string, data: Buffer): Promise<void> {
    await this.inline.put(sha256, data);
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
