import type { Readable } from 'node:stream';

/**
 * Resolves with `stream` once its first bytes are there (put back at its head, so a reader still gets every byte) or
 * it has ended; rejects if it fails first. An answer that waits for this before its status line can still answer a
 * stream that fails at once — a blob file gone, a copy that fails its hash check within its first chunk (a verifying
 * stream holds each chunk back until the next) — with another copy or an error, instead of a dropped connection.
 */
export function primed(stream: Readable): Promise<Readable> {
  return new Promise((resolve, reject) => {
    const done = () => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', onError);
    };
    const onReadable = () => {
      const chunk = stream.read() as Buffer | null;
      if (chunk === null) return; // nothing yet, or the end (then 'end' follows)
      done();
      stream.unshift(chunk);
      // Until its reader attaches (a turn later at most), a failure must not be an 'error' for nobody, which would
      // crash the process: the reader finds the stream destroyed and fails as it would have.
      stream.on('error', ignore);
      resolve(stream);
    };
    const onEnd = () => {
      done();
      resolve(stream);
    };
    const onError = (err: Error) => {
      done();
      reject(err);
    };
    stream.on('readable', onReadable);
    stream.on('end', onEnd);
    stream.on('error', onError);
  });
}

function ignore(): void {}
