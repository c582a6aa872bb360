import http, { type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { pipeline, type Readable } from 'node:stream';
import { ShoalError } from '../../common/errors.js';
import { IDLE_TIMEOUT_MS, PeerAnswerError } from './peer-client.js';

/** An error body is read only this far (a problem document is small; a hostile peer's may not be). */
const MAX_ERROR_BODY = 64 * 1024;

export interface Exchange {
  method: 'GET' | 'POST' | 'PUT';
  url: URL;
  headers?: OutgoingHttpHeaders;
  /** sent as application/json */
  json?: unknown;
  /** sent as is: the caller names its length in `headers` */
  body?: Readable | Buffer;
  /**
   * Total time allowed (0 or absent: none): until the whole answer was read for {@link PeerHttp.json}, until the
   * answer's head for {@link PeerHttp.stream}.
   */
  timeoutMs?: number;
  /** Aborts the exchange — for {@link PeerHttp.stream}, the answer's body too, until it has been read. */
  signal?: AbortSignal;
  /** statuses that are an answer rather than a refusal (default: 2xx) */
  ok?: (status: number) => boolean;
}

/**
 * The one HTTP stack of node↔node calls: `node:http` with keep-alive agents, the cluster token on every request,
 * request bodies streamed (with backpressure) and answers either parsed or handed on as streams. A connection that
 * stays silent for IDLE_TIMEOUT_MS while a request is sent or awaited is given up. (One stack for the metadata calls,
 * the blob transfers and the pipelined upload legs: the legs need the request head on the wire before the body
 * exists, and an answer that may come before the body ends — a refusal — which node:http gives directly.)
 */
export class PeerHttp {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  /** `localAddress`: PEER_SOURCE_ADDRESS, the address outgoing connections are bound to (unset: the OS picks). */
  constructor(
    private readonly token: string,
    localAddress?: string,
  ) {
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64, timeout: IDLE_TIMEOUT_MS, localAddress });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 64, timeout: IDLE_TIMEOUT_MS, localAddress });
  }

  /** Closes the kept-alive connections (after the HTTP server drained: requests in flight may still need peers). */
  destroy(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** Starts a request; the caller writes its body. `idleMs` bounds silence on the connection. */
  request(method: Exchange['method'], url: URL, headers: OutgoingHttpHeaders, idleMs = IDLE_TIMEOUT_MS): ClientRequest {
    const secure = url.protocol === 'https:';
    const req = (secure ? https.request : http.request)(url, {
      method,
      agent: secure ? this.httpsAgent : this.httpAgent,
      headers: { authorization: `Bearer ${this.token}`, ...headers },
    });
    req.setTimeout(idleMs, () => req.destroy(Object.assign(new Error(`peer ${url.host} stalled for ${idleMs} ms`), { code: 'ETIMEDOUT' })));
    return req;
  }

  /** One exchange whose answer is a JSON document. */
  async json<T>(x: Exchange): Promise<T> {
    const { req, response, clear } = this.send(x);
    try {
      const res = await response;
      const text = await readAll(res, Infinity);
      if (!(x.ok ?? is2xx)(res.statusCode ?? 0)) throw refusal(res, text);
      return JSON.parse(text) as T;
    } catch (err) {
      req.destroy();
      throw err;
    } finally {
      clear();
    }
  }

  /** One exchange whose answer is a byte stream: resolves once its head has arrived (and was an answer). */
  async stream(x: Exchange): Promise<IncomingMessage> {
    const { req, response, clear } = this.send(x);
    try {
      const res = await response;
      if (!(x.ok ?? is2xx)(res.statusCode ?? 0)) throw refusal(res, await readAll(res, MAX_ERROR_BODY));
      // Streamed on at the reader's pace: a slow client of a proxied read is not a stalled peer.
      req.setTimeout(0);
      // An abort after the head still ends the body (a background pull stalled mid-file, at SIGTERM).
      res.once('close', onAbort(x.signal, (err) => res.destroy(err)));
      return res;
    } catch (err) {
      req.destroy();
      throw err;
    } finally {
      clear();
    }
  }

  private send(x: Exchange): { req: ClientRequest; response: Promise<IncomingMessage>; clear: () => void } {
    const json = x.json === undefined ? undefined : Buffer.from(JSON.stringify(x.json));
    const headers: OutgoingHttpHeaders = json ? { 'content-type': 'application/json', 'content-length': String(json.length), ...x.headers } : { ...x.headers };
    const req = this.request(x.method, x.url, headers);
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      req.once('response', resolve);
      req.once('error', reject);
    });
    response.catch(() => undefined);
    const timer = x.timeoutMs ? setTimeout(() => req.destroy(Object.assign(new Error(`timeout of ${x.timeoutMs}ms exceeded`), { code: 'ETIMEDOUT' })), x.timeoutMs) : undefined;
    const unwatch = onAbort(x.signal, (err) => req.destroy(err));
    const body = json ?? x.body;
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    // A failed request also stops its source (a file read, a relayed peer stream): nothing is left open.
    else pipeline(body, req, (err) => err && req.destroy(err));
    const clear = () => {
      if (timer) clearTimeout(timer);
      unwatch();
    };
    return { req, response, clear };
  }
}

/** Calls `destroy` with the abort's reason when `signal` aborts (at once if it has); returns the unsubscriber. */
function onAbort(signal: AbortSignal | undefined, destroy: (err: Error) => void): () => void {
  if (!signal) return () => undefined;
  const fire = () => destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
  if (signal.aborted) {
    fire();
    return () => undefined;
  }
  signal.addEventListener('abort', fire, { once: true });
  return () => signal.removeEventListener('abort', fire);
}

/** `path` under a peer's base URL (which may carry a path prefix; config strips its trailing slashes). */
export function withQuery(base: string, path: string, query: Record<string, string | number | undefined> = {}): URL {
  const url = new URL(`${base}${path}`);
  for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
  return url;
}

const is2xx = (s: number) => s >= 200 && s < 300;

/** Reads an answer as text, up to `max` bytes (the rest is dropped with the connection). */
export async function readAll(res: IncomingMessage, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > max) {
      res.destroy();
      break;
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads a whole request body into memory, refusing one longer than `max` bytes (a batch is small by construction). */
export async function readBody(req: Readable, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > max) throw new ShoalError('PAYLOAD_TOO_LARGE', `a batch is at most ${max} bytes`);
    chunks.push(c);
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}

/** A JSON body read by hand (a direct route has no body parser): malformed JSON is a 400, as the parser made it. */
export async function readJson(req: Readable, max: number): Promise<unknown> {
  const body = await readBody(req, max);
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw new ShoalError('BAD_REQUEST', 'the body is not valid JSON');
  }
}

/** A peer's error answer, with the code of its problem document when it sent one. */
export function refusal(res: IncomingMessage, text: string): PeerAnswerError {
  let code: string | undefined;
  try {
    const doc = JSON.parse(text) as { code?: unknown };
    if (typeof doc.code === 'string') code = doc.code;
  } catch {
    // not a problem document: the status says enough
  }
  return new PeerAnswerError(res.statusCode ?? 0, code);
}
