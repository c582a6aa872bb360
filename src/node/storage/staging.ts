import { createHash } from 'node:crypto';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { fromIoError, ShoalError } from '../../common/errors.js';

/** Files of at most this size are kept inline in the metadata store (DESIGN §4): one batched commit, no file. */
export const INLINE_MAX_BYTES = 16 * 1024;
/** Writes to the temp file are gathered into chunks this big: fewer syscalls for large uploads. */
const WRITE_CHUNK = 1024 * 1024;

/** An upload that has been received whole, hashed and made durable, but is not yet visible. */
export interface StagedBlob {
  sha256: string;
  size: number;
  /** the bytes, for a small blob kept inline */
  data?: Buffer;
  /** the fsynced temp file, for a larger blob */
  tmpPath?: string;
}

export interface StageOptions {
  /** X-Content-SHA256 (or a peer's declared hash): a mismatch is CHECKSUM_MISMATCH and nothing is kept. */
  expectedSha256?: string;
  /** Content-Length: fewer bytes than declared is INCOMPLETE_BODY. */
  declaredLength?: number;
  /** MAX_OBJECT_BYTES, enforced while streaming when the length was not declared. */
  maxBytes?: number;
  /** Last word before the blob is made durable, once hash and size are known (e.g. checking HTTP trailers). */
  verify?: (sha256: string, size: number) => void;
}

/**
 * Streams `source` to `tmpPath` while hashing and counting, then fsyncs. Small bodies stay in memory (they become
 * inline blobs). On any failure — cut-off body, checksum mismatch, size limit, full disk — the temp file is removed
 * and nothing was stored. Memory stays bounded by WRITE_CHUNK whatever the size of the upload.
 */
export async function stageBlob(source: Readable | AsyncIterable<Buffer>, tmpPath: string, opts: StageOptions = {}): Promise<StagedBlob> {
  const hash = createHash('sha256');
  let size = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let fh: FileHandle | undefined;
  const flush = async () => {
    fh ??= await open(tmpPath, 'wx', 0o600);
    // writev: one syscall for the gathered chunks, without copying them into one buffer first.
    const chunks = pending;
    const expected = pendingBytes;
    pending = [];
    pendingBytes = 0;
    const { bytesWritten } = await fh.writev(chunks);
    // Regular files only write short when the disk is full; say so rather than keep a torn file.
    if (bytesWritten !== expected) throw Object.assign(new Error('short write'), { code: 'ENOSPC' });
  };
  try {
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (opts.maxBytes !== undefined && size > opts.maxBytes) {
          throw new ShoalError('PAYLOAD_TOO_LARGE', `the upload exceeds MAX_OBJECT_BYTES (${opts.maxBytes} bytes)`);
        }
        if (opts.declaredLength !== undefined && size > opts.declaredLength) {
          throw new ShoalError('BAD_REQUEST', `the body is longer than its Content-Length (${opts.declaredLength})`);
        }
        hash.update(chunk);
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes >= WRITE_CHUNK) await flush();
      }
    } catch (err) {
      if (err instanceof ShoalError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EDQUOT') throw err;
      throw new ShoalError('INCOMPLETE_BODY', 'the upload was cut off before the whole body arrived; nothing was stored');
    }
    if (opts.declaredLength !== undefined && size !== opts.declaredLength) {
      throw new ShoalError('INCOMPLETE_BODY', `received ${size} of the ${opts.declaredLength} bytes declared by Content-Length; nothing was stored`);
    }
    const sha256 = hash.digest('hex');
    if (opts.expectedSha256 !== undefined && opts.expectedSha256.toLowerCase() !== sha256) {
      throw new ShoalError('CHECKSUM_MISMATCH', `the body hashes to ${sha256}, not to the declared ${opts.expectedSha256.toLowerCase()}; nothing was stored`);
    }
    opts.verify?.(sha256, size);
    if (fh === undefined && size <= INLINE_MAX_BYTES) {
      return { sha256, size, data: pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes) };
    }
    if (pendingBytes > 0 || fh === undefined) await flush();
    await fh!.sync();
    await fh!.close();
    fh = undefined;
    return { sha256, size, tmpPath };
  } catch (err) {
    await fh?.close().catch(() => undefined);
    await unlink(tmpPath).catch(() => undefined);
    throw fromIoError(err);
  }
}
