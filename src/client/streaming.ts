import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Transform, type Readable } from 'node:stream';
import { networkError, problemFrom, ShoalClientError } from './client-error.js';

/**
 * Bodies that fetch cannot stream well in Node 20 (an upload body of unknown size needs `duplex: 'half'` and gives no
 * progress; a download would be read through a web stream) go through `node:http` here instead: bytes are piped, with
 * back-pressure, and never held in memory beyond the streams' own buffers.
 */

/** Called with the number of body bytes handed to the socket (upload) or received (download) so far. */
export type ProgressListener = (bytes: number) => void;

export interface StreamedAnswer {
  status: number;
  headers: IncomingHttpHeaders;
}

/** Where a local read failed (the file vanished, stdin broke): not a network problem, so it is rethrown as is. */
class SourceError extends Error {
  constructor(readonly original: unknown) {
    super('source failed');
  }
}

/**
 * Sends `source` as the body of a request and resolves with the parsed JSON answer once the server answered 2xx.
 * The server may answer an error before it has read the body (401, 413, `503 INSUFFICIENT_REPLICAS`): sending stops
 * then, and the error is thrown with the server's problem document rather than a broken-pipe error.
 */
export function sendStream(url: URL, method: string, headers: Record<string, string>, source: Readable, onProgress?: ProgressListener): Promise<{ answer: StreamedAnswer; body: unknown }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
    };
    const req = requestFn(url)(url, { method, headers });
    idleTimeout(req);
    const counter = countingStream(onProgress);

    source.once('error', (err) => {
      req.destroy(new SourceError(err));
      settle(() => reject(err));
    });
    req.on('error', (err) => {
      source.destroy();
      if (answered) return; // a reset after the answer (the server stopped reading): the answer is what counts
      settle(() => reject(err instanceof SourceError ? err.original : networkError(url, err)));
    });
    req.on('response', (res) => {
      answered = true;
      readText(res).then(
        (text) => {
          const done = req.writableFinished;
          if (!done) {
            // Answered before the whole body went out: stop sending; the connection cannot be reused anyway.
            source.unpipe(counter);
            source.destroy();
            req.destroy();
          }
          const status = res.statusCode ?? 0;
          const body = parseBody(res, text);
          if (status < 200 || status >= 300) settle(() => reject(new ShoalClientError(problemFrom(status, res.statusMessage ?? '', body))));
          else if (!done) settle(() => reject(new ShoalClientError({ status, code: 'INCOMPLETE_UPLOAD', detail: 'the server answered before the whole body was sent' })));
          else settle(() => resolve({ answer: { status, headers: res.headers }, body }));
        },
        (err: unknown) => settle(() => reject(networkError(url, err))),
      );
    });
    source.pipe(counter).pipe(req);
  });
}

/**
 * Starts a GET and resolves once a 2xx status and its headers arrived, with the body still unread (and counted for
 * `onProgress`). An error answer is read whole and thrown as a {@link ShoalClientError}; a body cut short later makes
 * the returned stream fail with a `NETWORK_ERROR` one.
 */
export function openStream(url: URL, headers: Record<string, string>, onProgress?: ProgressListener): Promise<{ answer: StreamedAnswer; body: Readable }> {
  return new Promise((resolve, reject) => {
    const req = requestFn(url)(url, { method: 'GET', headers });
    idleTimeout(req);
    req.on('error', (err) => reject(networkError(url, err)));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        readText(res).then(
          (text) => reject(new ShoalClientError(problemFrom(status, res.statusMessage ?? '', parseBody(res, text)))),
          (err: unknown) => reject(networkError(url, err)),
        );
        return;
      }
      const counter = countingStream(onProgress);
      // IncomingMessage reports a body shorter than its Content-Length as an 'aborted' error: pass it on, named.
      res.once('error', (err) => counter.destroy(networkError(url, err)));
      res.pipe(counter);
      resolve({ answer: { status, headers: res.headers }, body: counter });
    });
    req.end();
  });
}

function requestFn(url: URL): typeof http.request {
  if (url.protocol === 'http:') return http.request;
  if (url.protocol === 'https:') return https.request;
  throw new TypeError(`unsupported protocol ${url.protocol} in ${url.origin}; use http: or https:`);
}

/**
 * A silent server must not hang the caller forever. Generous, since an upload's answer waits for W owners to fsync:
 * the socket carries nothing meanwhile.
 */
const IDLE_TIMEOUT_MS = 120_000;

function idleTimeout(req: http.ClientRequest): void {
  req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new Error(`no data for ${IDLE_TIMEOUT_MS / 1000} s`)));
}

function countingStream(onProgress?: ProgressListener): Transform {
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      onProgress?.(bytes);
      callback(null, chunk);
    },
  });
}

/** Answers worth reading whole are small (JSON, problem documents); this one is capped anyway. */
const MAX_TEXT = 1 << 20;

async function readText(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    if (size < MAX_TEXT) chunks.push(chunk);
    size += chunk.length;
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseBody(res: IncomingMessage, text: string): unknown {
  if (!/\bjson\b/.test(res.headers['content-type'] ?? '') || text.length === 0) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text; // announced as JSON but is not: keep the text for the error message
  }
}
