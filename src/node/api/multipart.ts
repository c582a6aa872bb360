import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { ShoalError } from '../../common/errors.js';

export interface MultipartFile {
  stream: Readable;
  filename: string;
  contentType: string;
}

/**
 * Streams a multipart/form-data upload (field `file`, optional field `key`) through busboy. The file stream is handed
 * to `consume` as soon as it starts — it is never buffered — and the `key` field may come before or after it.
 * When the form fails (malformed, cut off, a second file, a field too long), a file still streaming is destroyed so
 * that `consume` fails and cleans up, and a result `consume` already produced is handed to `discard`.
 */
export function parseMultipart<T>(
  req: Readable & { headers: IncomingHttpHeaders },
  consume: (file: MultipartFile) => Promise<T>,
  discard: (result: T) => Promise<unknown> = async () => undefined,
): Promise<{ result: T; fields: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { files: 1, fields: 8, fieldSize: 4096, parts: 10 } });
    } catch (err) {
      reject(new ShoalError('MALFORMED_MULTIPART', `not a multipart/form-data request: ${(err as Error).message}`));
      return;
    }
    const fields: Record<string, string> = {};
    let pending: Promise<T> | undefined;
    let fileStream: Readable | undefined;
    let failed = false;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      fileStream?.destroy();
      pending?.then(discard).catch(() => undefined);
      req.unpipe(bb);
      req.resume();
      reject(err);
    };
    bb.on('field', (name, value, info) => {
      if (info.valueTruncated) fail(new ShoalError('MALFORMED_MULTIPART', `field ${name} is too long`));
      else fields[name] = value;
    });
    bb.on('file', (name, stream, info) => {
      if (name !== 'file' || pending) {
        stream.resume();
        fail(new ShoalError('MALFORMED_MULTIPART', `unexpected file field "${name}"; send exactly one field named "file"`));
        return;
      }
      fileStream = stream;
      pending = consume({ stream, filename: info.filename ?? '', contentType: info.mimeType ?? 'application/octet-stream' });
      pending.catch(fail);
    });
    bb.on('filesLimit', () => fail(new ShoalError('MALFORMED_MULTIPART', 'send exactly one file')));
    bb.on('partsLimit', () => fail(new ShoalError('MALFORMED_MULTIPART', 'too many parts')));
    bb.on('error', (err: Error) => fail(new ShoalError('MALFORMED_MULTIPART', `malformed multipart body: ${err.message}`)));
    bb.on('close', () => {
      if (failed) return;
      if (!pending) {
        fail(new ShoalError('MALFORMED_MULTIPART', 'no field named "file" in the form'));
        return;
      }
      pending.then((result) => resolve({ result, fields }), fail);
    });
    req.on('aborted', () => fail(new ShoalError('INCOMPLETE_BODY', 'the upload was cut off; nothing was stored')));
    req.pipe(bb);
  });
}
