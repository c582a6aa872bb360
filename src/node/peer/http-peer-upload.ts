import type { ClientRequest, IncomingMessage } from 'node:http';
import { once } from 'node:events';
import { ShoalError } from '../../common/errors.js';
import type { PeerUpload } from './peer-client.js';
import { readAll, refusal } from './peer-http.js';
import type { EntryMeta } from '../storage/entry.js';
import { encodeMetaTrailer, META_TRAILER, SHA_TRAILER, SIZE_TRAILER } from './wire.js';

/**
 * One owner's leg of a pipelined upload over HTTP: a chunked `PUT /internal/entries` whose head (with the entry) goes
 * out at once, each chunk of the client's body follows as it arrives, and the SHA-256 and size go last as HTTP
 * trailers. The owner may answer before the body ends (a refusal): the leg then fails without waiting for drain.
 * If the upload fails anywhere, the request is destroyed and the owner discards its temp file: nothing half-written
 * becomes visible.
 */
export class HttpPeerUpload implements PeerUpload {
  private readonly response: Promise<IncomingMessage>;
  failed?: Error;

  /** `req` is a started chunked PUT whose idle timeout is already set (see PeerHttp.request). */
  constructor(
    readonly peerId: string,
    private readonly req: ClientRequest,
  ) {
    this.response = new Promise((resolve, reject) => {
      this.req.once('response', resolve);
      this.req.once('error', (err) => {
        this.failed ??= err;
        reject(err);
      });
    });
    this.response.catch(() => undefined);
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.failed) return;
    if (this.req.write(chunk)) return;
    await Promise.race([once(this.req, 'drain'), this.response.then(() => undefined, () => undefined)]).catch(() => undefined);
  }

  async finish(sha256: string, size: number, meta?: EntryMeta): Promise<{ version: string }> {
    if (this.failed) throw this.failed;
    const trailers: Record<string, string> = { [SHA_TRAILER]: sha256, [SIZE_TRAILER]: String(size) };
    if (meta) trailers[META_TRAILER] = encodeMetaTrailer(meta);
    this.req.addTrailers(trailers);
    this.req.end();
    const res = await this.response;
    const text = await readAll(res, Infinity);
    if (res.statusCode !== 200 && res.statusCode !== 201) {
      const err = refusal(res, text);
      throw new ShoalError('BAD_GATEWAY', `peer ${this.peerId} answered HTTP ${err.status} ${err.problemCode ?? ''}`.trim());
    }
    return JSON.parse(text) as { version: string };
  }

  abort(reason: Error): void {
    this.failed ??= reason;
    this.req.destroy(reason);
  }
}
