import type { Readable } from 'node:stream';
import type { ByteRange } from './range.js';
import type { StagedBlob, StageOptions } from './staging.js';

/**
 * Where the bytes of blobs too large to keep inline live, content-addressed by SHA-256 (equal content is stored once).
 * Knows nothing of entries or reference counts: the local store decides what to place and what to free, under its
 * per-blob lock. Disk (`DATA_DIR/blobs`, `tmp/`, `quarantine/`) in production, memory in specs.
 *
 * Crash safety (DESIGN §4): {@link stage} makes the bytes durable before it resolves, {@link place} makes them
 * visible under their hash atomically (rename), and the metadata is committed only after that; whatever a crash
 * leaves unreferenced is listed by {@link list} and removed at the next start.
 */
export interface BlobStore {
  /** Empties staging (uploads a crash interrupted were never visible) and creates what is missing. */
  init(): Promise<void>;
  /**
   * Receives an upload while hashing and checking it (see {@link StageOptions}): a blob of at most INLINE_MAX_BYTES
   * comes back as `data` (nothing stored), a larger one staged durably. Fails with a ShoalError and keeps nothing.
   */
  stage(source: Readable | AsyncIterable<Buffer>, opts: StageOptions): Promise<StagedBlob>;
  /** Drops a staged upload that will not be placed. */
  discard(staged: StagedBlob): Promise<void>;
  /** Makes a staged blob visible under its hash; an equal blob already held is kept as is (and the staged one dropped). */
  place(staged: StagedBlob): Promise<void>;
  /** A reader of a staged blob's bytes, opened before it is placed and valid after (form uploads stream it to peers). */
  openStaged(staged: StagedBlob): Promise<StagedReader>;
  has(sha256: string): Promise<boolean>;
  size(sha256: string): Promise<number | undefined>;
  /** The bytes (or a range of them), unverified; a missing blob fails the stream. */
  open(sha256: string, range?: ByteRange): Readable;
  /** Removes a blob; a missing one is not an error. */
  remove(sha256: string): Promise<void>;
  /** Moves a blob that failed its hash check aside: never served again, kept for an operator to inspect. */
  quarantine(sha256: string): Promise<void>;
  /** Keeps a copy of an entry's bytes aside for the operator (recovery's quarantine); `inline` for an inline blob. */
  keepCopy(sha256: string, inline?: Buffer): Promise<void>;
  /** Every blob held (orphan collection at start-up). */
  list(): AsyncIterable<string>;
}

/** Streams of a staged blob, each from the start; `close` once every stream is done. */
export interface StagedReader {
  stream(): Readable;
  close(): Promise<void>;
}

export const BLOB_STORE = Symbol('BLOB_STORE');
