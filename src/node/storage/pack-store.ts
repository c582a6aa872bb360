import { closeSync, fdatasyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readSync, fstatSync, unlinkSync, writev, read } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { fsyncDirSync } from '../../common/fs/atomic-write.js';

const writevAt = promisify(writev);
const readAt = promisify(read);

/** Where an inline blob's bytes are: the segment, the offset of the bytes in it, their length. */
export type PackLocation = [segment: number, offset: number, length: number];

/** A record: magic, length of the bytes, their SHA-256 (raw), then the bytes. */
export const RECORD_HEADER_BYTES = 40;
const MAGIC = 0x53484b31; // 'SHK1'
/** A segment stops taking appends once it holds this much; compaction never touches the one being appended to. */
export const SEGMENT_BYTES = 64 * 1024 * 1024;
/** Records per write: two buffers each, under IOV_MAX (1 024). */
const MAX_BATCH = 500;

/**
 * An appended record, written but not yet durable: the transaction that references it calls
 * {@link PackStore.makeDurable} first. `release` once that transaction (or the decision not to reference it) has ended.
 */
export interface Appended {
  at: PackLocation;
  release(): void;
}

/** A record read back by {@link PackStore.records}. */
export interface PackRecord {
  sha256: string;
  at: PackLocation;
  data: Buffer;
}

interface Waiting {
  sha256: string;
  data: Buffer;
  resolve(appended: Appended): void;
  reject(err: unknown): void;
}

/**
 * The bytes of small blobs (at most INLINE_MAX_BYTES), outside the metadata store's memory map: append-only segment
 * files `DATA_DIR/packs/<n>.pack`, read back with `pread`. Kept in LMDB, every small file's pages were mapped into
 * the node's memory as they were written and read (issue #14: 147 MiB of a 271 MiB peak under 4 KiB load); read with
 * `pread` they stay in the kernel's page cache, which the kernel shares and reclaims.
 *
 * Appends are batched: records that arrive while a write is in progress go together in the next `writev`, and an
 * append resolves once its record is written (to the page cache). It is made durable by {@link makeDurable}, which
 * the entry index calls inside the LMDB transaction that commits the record's location, before that commit: one
 * `fdatasync` covers every record written so far, so the transactions lmdb-js batches into one commit share it (the
 * first pays, the rest find their records durable) — a small upload still costs one group commit, not two in a row.
 * A crash before the commit leaves unreferenced bytes, never a reference to missing ones.
 * What a record is worth (referenced or garbage) is the entry index's business: it counts live bytes per segment and
 * drives compaction through {@link records} and {@link remove}.
 *
 * Each start appends to a new segment, so a record cut off by a crash is only ever at the end of a sealed one.
 */
export class PackStore {
  private readonly fds = new Map<number, number>();
  private readonly sizes = new Map<number, number>();
  /** Appends whose transaction has not ended, per segment: such a segment is neither compacted nor removed. */
  private readonly pendingBySegment = new Map<number, number>();
  private active = 0;
  private activeFd = -1;
  private offset = 0;
  private queue: Waiting[] = [];
  private writing = false;
  /** A write failed: the next batch goes to a new segment (opening it may fail too while the disk is full). */
  private sealActive = false;
  /** Per segment: the end of what was written, and of what an fdatasync made durable. */
  private readonly written = new Map<number, number>();
  private readonly durable = new Map<number, number>();
  /**
   * Segments whose fdatasync failed: what was not durable then never will be (the kernel may have dropped those
   * pages and a later fdatasync report success), so records past their durable end are refused.
   */
  private readonly failed = new Set<number>();

  constructor(
    private readonly dir: string,
    private readonly segmentBytes = SEGMENT_BYTES,
  ) {
    if (mkdirSync(dir, { recursive: true }) !== undefined) fsyncDirSync(dirname(dir));
    let highest = 0;
    for (const name of readdirSync(dir)) {
      const m = /^(\d+)\.pack$/.exec(name);
      if (!m) continue;
      const segment = Number(m[1]);
      highest = Math.max(highest, segment);
      const fd = openSync(join(dir, name), 'r');
      const { size } = fstatSync(fd);
      this.fds.set(segment, fd);
      this.sizes.set(segment, size);
      // What a transaction referenced it made durable first; the rest is garbage, durable or not.
      this.durable.set(segment, size);
    }
    this.startSegment(highest + 1);
  }

  /** The segment being appended to. */
  get activeSegment(): number {
    return this.active;
  }

  /** Every segment but the active one, in ascending order, with its size in bytes. */
  sealed(): { segment: number; bytes: number }[] {
    return this.segments()
      .filter(({ segment }) => segment !== this.active)
      .sort((a, b) => a.segment - b.segment);
  }

  /** Every segment, the active one included, with its size in bytes. */
  segments(): { segment: number; bytes: number }[] {
    return [...this.sizes].map(([segment, bytes]) => ({ segment, bytes }));
  }

  /** Whether records of `segment` are appended but their transaction has not ended. */
  pending(segment: number): boolean {
    return (this.pendingBySegment.get(segment) ?? 0) > 0;
  }

  /** Appends one record; resolves once it is written — durable only after {@link makeDurable}. */
  append(sha256: string, data: Buffer): Promise<Appended> {
    return new Promise((resolve, reject) => {
      this.queue.push({ sha256, data, resolve, reject });
      if (!this.writing) void this.writeQueued();
    });
  }

  /**
   * Makes the record at `at` durable, synchronously (inside an LMDB write transaction, before its commit): nothing if
   * an earlier call covered it, else one fdatasync of its segment for everything written so far. Throws if the
   * record cannot be made durable; the transaction then fails and nothing references it.
   */
  makeDurable(at: PackLocation): void {
    const [segment, offset, length] = at;
    const end = offset + length;
    if ((this.durable.get(segment) ?? 0) >= end) return;
    if (this.failed.has(segment)) throw Object.assign(new Error(`pack segment ${segment} could not be made durable`), { code: 'EIO' });
    const fd = this.fds.get(segment);
    const upTo = this.written.get(segment) ?? 0;
    if (fd === undefined || upTo < end) throw new Error(`pack record ${segment}:${offset} was not written`);
    try {
      fdatasyncSync(fd);
    } catch (err) {
      this.failed.add(segment);
      if (segment === this.active) this.sealActive = true;
      throw err;
    }
    this.durable.set(segment, upTo);
  }

  /** The bytes at `at` (synchronous, as an LMDB read is: the page cache, or the disk). Throws on an I/O error. */
  read(at: PackLocation): Buffer {
    const [segment, offset, length] = at;
    const out = Buffer.allocUnsafe(length);
    if (length === 0) return out;
    const fd = this.fds.get(segment);
    if (fd === undefined) throw Object.assign(new Error(`pack segment ${segment} is not held`), { code: 'ENOENT' });
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, offset + done);
      if (n === 0) throw Object.assign(new Error(`pack segment ${segment} ends before ${offset + length}`), { code: 'EIO' });
      done += n;
    }
    return out;
  }

  /**
   * The records of `segment` from byte `from`, at least `budget` bytes of them unless the segment ends first (a
   * record cut off by a crash ends it); `next` is where to go on, `done` whether the segment was read to its end.
   */
  async records(segment: number, from: number, budget: number): Promise<{ records: PackRecord[]; next: number; done: boolean }> {
    const fd = this.fds.get(segment);
    const size = this.sizes.get(segment) ?? 0;
    if (fd === undefined) return { records: [], next: from, done: true };
    const records: PackRecord[] = [];
    let pos = from;
    const header = Buffer.allocUnsafe(RECORD_HEADER_BYTES);
    while (pos - from < budget) {
      if (pos + RECORD_HEADER_BYTES > size) return { records, next: pos, done: true };
      const { bytesRead } = await readAt(fd, header, 0, RECORD_HEADER_BYTES, pos);
      if (bytesRead < RECORD_HEADER_BYTES || header.readUInt32BE(0) !== MAGIC) return { records, next: pos, done: true };
      const length = header.readUInt32BE(4);
      const start = pos + RECORD_HEADER_BYTES;
      if (start + length > size) return { records, next: pos, done: true };
      const data = Buffer.allocUnsafe(length);
      if (length > 0 && (await readAt(fd, data, 0, length, start)).bytesRead < length) return { records, next: pos, done: true };
      records.push({ sha256: header.toString('hex', 8, 40), at: [segment, start, length], data });
      pos = start + length;
    }
    return { records, next: pos, done: pos + RECORD_HEADER_BYTES > size };
  }

  /** Deletes a sealed segment (its records are all garbage). */
  remove(segment: number): void {
    if (segment === this.active) throw new Error('the active pack segment cannot be removed');
    const fd = this.fds.get(segment);
    this.fds.delete(segment);
    this.sizes.delete(segment);
    this.written.delete(segment);
    this.durable.delete(segment);
    this.failed.delete(segment);
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(this.path(segment));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  /** Closes every file (specs that reopen a data dir in one process); appends in flight must have ended. */
  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }

  private path(segment: number): string {
    return join(this.dir, `${String(segment).padStart(8, '0')}.pack`);
  }

  private startSegment(segment: number): void {
    const fd = openSync(this.path(segment), 'wx+', 0o600);
    // The file's name must outlive a crash as its records do (an fdatasync of the file does not promise that).
    try {
      fsyncDirSync(this.dir);
    } catch (err) {
      closeSync(fd);
      try {
        unlinkSync(this.path(segment)); // so that the next try can create it again
      } catch {
        // the directory's error is the one to report
      }
      throw err;
    }
    this.active = segment;
    this.activeFd = fd;
    this.fds.set(segment, fd);
    this.sizes.set(segment, 0);
    this.offset = 0;
  }

  /** Writes what is queued, batch after batch, until the queue is empty. */
  private async writeQueued(): Promise<void> {
    this.writing = true;
    try {
      while (this.queue.length > 0) await this.writeBatch(this.queue.splice(0, MAX_BATCH));
    } finally {
      this.writing = false;
    }
  }

  private async writeBatch(batch: Waiting[]): Promise<void> {
    let bytes = 0;
    for (const w of batch) bytes += RECORD_HEADER_BYTES + w.data.length;
    try {
      if (this.sealActive || (this.offset > 0 && this.offset + bytes > this.segmentBytes)) this.roll();
      this.sealActive = false;
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    const segment = this.active;
    const fd = this.activeFd;
    const buffers: Buffer[] = [];
    const locations: PackLocation[] = [];
    let pos = this.offset;
    for (const w of batch) {
      const header = Buffer.allocUnsafe(RECORD_HEADER_BYTES);
      header.writeUInt32BE(MAGIC, 0);
      header.writeUInt32BE(w.data.length, 4);
      header.write(w.sha256, 8, 32, 'hex');
      buffers.push(header, w.data);
      locations.push([segment, pos + RECORD_HEADER_BYTES, w.data.length]);
      pos += RECORD_HEADER_BYTES + w.data.length;
    }
    try {
      const { bytesWritten } = await writevAt(fd, buffers, this.offset);
      // Regular files only write short when the disk is full.
      if (bytesWritten !== bytes) throw Object.assign(new Error('short write to a pack segment'), { code: 'ENOSPC' });
    } catch (err) {
      // What was written may be torn: cut it off and go on appending at the same place (a full disk would otherwise
      // leave a new segment, and an open file, per refused write). If even that fails, the segment takes no more
      // appends (its tail is garbage a scan stops at).
      try {
        ftruncateSync(fd, this.offset);
      } catch {
        this.sizes.set(segment, Math.max(this.sizes.get(segment) ?? 0, pos));
        this.sealActive = true;
      }
      for (const w of batch) w.reject(err);
      return;
    }
    this.offset = pos;
    this.sizes.set(segment, pos);
    this.written.set(segment, pos);
    this.pendingBySegment.set(segment, (this.pendingBySegment.get(segment) ?? 0) + batch.length);
    batch.forEach((w, i) => w.resolve({ at: locations[i], release: this.releaser(segment) }));
  }

  private releaser(segment: number): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.pendingBySegment.get(segment) ?? 1) - 1;
      if (n > 0) this.pendingBySegment.set(segment, n);
      else this.pendingBySegment.delete(segment);
    };
  }

  /** Seals the active segment (its file stays open for reads) and starts the next. */
  private roll(): void {
    this.startSegment(this.active + 1);
  }
}
