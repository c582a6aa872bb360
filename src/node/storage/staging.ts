import { createHash } from 'node:crypto';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
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
  /**
   * Where a larger blob's staged bytes are, for the blob store that staged them: the fsynced temp file on disk (an
   * opaque handle in memory). Read them through {@link BlobStore.openStaged}.
   */
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
 * Where the bytes of a staged blob go while they arrive: opened lazily (a small blob never opens one), written in
 * gathered chunks, made durable by `finish`, thrown away by `abort`. The disk one is a temp file; the memory one a list.
 */
export interface StagingSink {
  write(chunks: Buffer[], bytes: number): Promise<void>;
  /** Makes what was written durable (fsync) and closes it. */
  finish(): Promise<void>;
  /** Closes and removes what was written; never throws. */
  abort(): Promise<void>;
}

/**
 * Streams `source` into a sink while hashing and counting. Small bodies stay in memory (they become inline blobs).
 * On any failure — cut-off body, checksum mismatch, size limit, full disk — the sink is aborted and nothing was
 * stored. Memory stays bounded by WRITE_CHUNK whatever the size of the upload. `handle` names the staged bytes in
 * the result (the temp file's path for the disk).
 */
export async function stageInto(source: Readable | AsyncIterable<Buffer>, openSink: () => Promise<StagingSink>, handle: string, opts: StageOptions = {}): Promise<StagedBlob> {
  const hash = createHash('sha256');
  let size = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let sink: StagingSink | undefined;
  let opening: Promise<StagingSink> | undefined;
  const flush = async () => {
    opening ??= openSink();
    sink = await opening;
    const chunks = pending;
    const bytes = pendingBytes;
    pending = [];
    pendingBytes = 0;
    await sink.write(chunks, bytes);
  };
  try {
    try {
      for await (const chunk of source instanceof Readable ? chunksOf(source) : source) {
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
    if (opening === undefined && size <= INLINE_MAX_BYTES) {
      return { sha256, size, data: pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes) };
    }
    if (pendingBytes > 0 || opening === undefined) await flush();
    const done = sink!;
    sink = undefined;
    opening = undefined;
    await done.finish().catch(async (err: unknown) => {
      await done.abort();
      throw err;
    });
    return { sha256, size, tmpPath: handle };
  } catch (err) {
    const open = opening;
    if (open) await open.then((s) => s.abort(), () => undefined);
    throw fromIoError(err);
  }
}

/**
 * The chunks of a Readable in paused mode: what is buffered is taken synchronously (a small request body has usually
 * arrived whole with its head), and listeners are set only while waiting for more. Readable's own async iterator
 * arms end-of-stream tracking (half a dozen listeners, and their removal) on every stream, which under small-file
 * load cost more than hashing the body. A stream that closes before its end, or fails, throws here.
 */
export async function* chunksOf(source: Readable): AsyncGenerator<Buffer> {
  // A stream that fails while the consumer is busy with a chunk (no waiter listening) would emit 'error' to nobody,
  // which crashes the process for any stream but Node's IncomingMessage; the error stays in `source.errored`, thrown
  // at the next read. One listener for the generator's whole life, not one per wait.
  source.on('error', ignore);
  try {
    for (;;) {
      let chunk: Buffer | null;
      while ((chunk = source.read() as Buffer | null) !== null) yield chunk;
      if (source.readableEnded) return;
      if (source.errored) throw source.errored;
      if (source.destroyed) throw prematureClose();
      await new Promise<void>((resolve, reject) => {
        waiting.set(source, { resolve, reject });
        source.on('readable', wake);
        source.on('end', wake);
        source.on('error', wake);
        source.on('close', wakeOnClose);
      });
    }
  } finally {
    source.off('error', ignore);
  }
}

function ignore(): void {}

/**
 * Who waits in {@link chunksOf} for each stream. The listeners are module-level functions (the stream is their
 * `this`), not closures made per wait: the server bundle keeps function names (esbuild keepNames), and every named
 * closure created at run time costs a `__name()` call there — ≈ 1.5 % of a small PUT's CPU for these three.
 */
const waiting = new WeakMap<Readable, { resolve: () => void; reject: (err: Error) => void }>();

/** 'readable' and 'end' (no argument): more to read, or the end; 'error': the stream failed. */
function wake(this: Readable, err?: Error): void {
  settle(this, err);
}

function wakeOnClose(this: Readable): void {
  settle(this, this.readableEnded ? undefined : (this.errored ?? prematureClose()));
}

function settle(source: Readable, err: Error | undefined): void {
  const waiter = waiting.get(source);
  source.off('readable', wake);
  source.off('end', wake);
  source.off('error', wake);
  source.off('close', wakeOnClose);
  if (!waiter) return;
  waiting.delete(source);
  if (err) waiter.reject(err);
  else waiter.resolve();
}

function prematureClose(): Error {
  return Object.assign(new Error('the stream closed before its end'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

/** Stages `source` into the temp file `tmpPath` (created exclusively, fsynced before this resolves). */
export function stageBlob(source: Readable | AsyncIterable<Buffer>, tmpPath: string, opts: StageOptions = {}): Promise<StagedBlob> {
  return stageInto(source, () => openTempFile(tmpPath), tmpPath, opts);
}

async function openTempFile(tmpPath: string): Promise<StagingSink> {
  let fh: FileHandle | undefined;
  const removeFile = async () => {
    await fh?.close().catch(() => undefined);
    fh = undefined;
    await unlink(tmpPath).catch(() => undefined);
  };
  try {
    fh = await open(tmpPath, 'wx', 0o600);
  } catch (err) {
    await removeFile();
    throw err;
  }
  const file = fh;
  return {
    async write(chunks, bytes) {
      // writev: one syscall for the gathered chunks, without copying them into one buffer first.
      const { bytesWritten } = await file.writev(chunks);
      // Regular files only write short when the disk is full; say so rather than keep a torn file.
      if (bytesWritten !== bytes) throw Object.assign(new Error('short write'), { code: 'ENOSPC' });
    },
    async finish() {
      await file.sync();
      await file.close();
      fh = undefined;
    },
    abort: removeFile,
  };
}
