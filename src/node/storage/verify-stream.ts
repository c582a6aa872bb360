import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export class CorruptBlobError extends Error {
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`blob ${expected} hashes to ${actual}`);
    this.name = 'CorruptBlobError';
  }
}

/**
 * Re-hashes bytes on their way out and fails the stream when they do not match. It always holds the latest chunk
 * back until the next one (or the end) arrives, so a corrupt blob is never sent complete: the client sees a cut-off
 * body, never wrong bytes presented as whole.
 */
export class VerifyStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private held?: Buffer;

  constructor(
    private readonly expected: string,
    private readonly onCorrupt?: (err: CorruptBlobError) => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    const prev = this.held;
    this.held = chunk;
    done(null, prev);
  }

  override _flush(done: TransformCallback): void {
    const actual = this.hash.digest('hex');
    if (actual !== this.expected) {
      const err = new CorruptBlobError(this.expected, actual);
      this.onCorrupt?.(err);
      done(err);
      return;
    }
    done(null, this.held);
  }
}
