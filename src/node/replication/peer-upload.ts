import { request, type Agent, type ClientRequest, type IncomingMessage } from 'node:http';
import { once } from 'node:events';
import { ShoalError } from '../../common/errors.js';
import { encodeEntry, ENTRY_HEADER, SHA_TRAILER, SIZE_TRAILER } from '../internal/entry-header.js';
import type { Entry } from '../storage/entry.js';


/**
 * One owner's leg of a pipelined upload: the coordinator forwards each chunk of the client's body as it arrives,
 * and when the body is complete (and fsynced locally) sends its SHA-256 and size as HTTP trailers. The owner re-hashes
 * what it received, refuses a mismatch and only then commits. If the upload fails anywhere, the request is destroyed
 * and the owner discards its temp file: nothing half-written becomes visible.
 */
export class PeerUpload {
  private readonly req: ClientRequest;
  private readonly response: Promise<IncomingMessage>;
  failed?: Error;

  constructor(
    readonly peerId: string,
    url: string,
    entry: Entry,
    token: string,
    agent: Agent,
    idleTimeoutMs: number,
  ) {
    const target = new URL('/internal/entries', url);
    this.req = request(target, {
      method: 'PUT',
      agent,
      headers: {
        authorization: `Bearer ${token}`,
        [ENTRY_HEADER]: encodeEntry(entry),
        'content-type': 'application/octet-stream',
        'transfer-encoding': 'chunked',
        trailer: `${SHA_TRAILER}, ${SIZE_TRAILER}`,
      },
    });
    this.req.setTimeout(idleTimeoutMs, () => this.req.destroy(new Error(`peer ${peerId} stalled for ${idleTimeoutMs} ms`)));
    this.response = new Promise((resolve, reject) => {
      this.req.once('response', resolve);
      this.req.once('error', (err) => {
        this.failed ??= err;
        reject(err);
      });
    });
    this.response.catch(() => undefined);
  }

  /** Forwards a chunk; resolves when the peer can take more (backpressure), or at once if this leg already failed. */
  async write(chunk: Buffer): Promise<void> {
    if (this.failed) return;
    if (this.req.write(chunk)) return;
    await Promise.race([once(this.req, 'drain'), this.response.then(() => undefined, () => undefined)]).catch(() => undefined);
  }

  /** Sends the trailers and waits for the owner's verdict: the version it now holds for the key. */
  async finish(sha256: string, size: number): Promise<{ version: string }> {
    if (this.failed) throw this.failed;
    this.req.addTrailers({ [SHA_TRAILER]: sha256, [SIZE_TRAILER]: String(size) });
    this.req.end();
    const res = await this.response;
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    if (res.statusCode !== 200 && res.statusCode !== 201) {
      let code = '';
      try {
        code = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { code?: string }).code ?? '';
      } catch {
        // not a problem document
      }
      throw new ShoalError('BAD_GATEWAY', `peer ${this.peerId} answered HTTP ${res.statusCode} ${code}`.trim());
    }
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as { version: string };
  }

  abort(reason: Error): void {
    this.failed ??= reason;
    this.req.destroy(reason);
  }
}
