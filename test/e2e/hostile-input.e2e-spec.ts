import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdir } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { type Cluster, startCluster } from '../support/start-cluster.js';
import { pollUntil, sleep } from '../support/poll-until.js';
import type { ShoalProcess } from '../support/processes.js';
import { sha256 as sha } from '../support/files.js';

/**
 * Hostile input against one live node and its registry (DESIGN §2): property-based (fast-check, fixed seed, bounded
 * runs) over raw sockets, so that paths, framing and headers go out exactly as generated — invalid percent-encodings,
 * lying Content-Length, connections cut mid-body, trickled headers and bodies, malformed multipart, bad Range and
 * X-Content-SHA256, oversized headers, and internal or registry routes without the right token.
 *
 * After every case: an answer, when there is one, is a 4xx application/problem+json with a `code` (never a 5xx) and
 * comes within a bound; the node still serves (`/health/live`, a PUT/GET round trip); nothing partial is stored (the
 * keys used are absent, the local listing holds only the fixtures, `DATA_DIR/tmp/` is empty once the case settles).
 */

const SEED = 20261125;
const KiB = 1024;
const MiB = 1024 * KiB;
/** Every answer must come (or the connection close) within this. */
const ANSWER_MS = 10_000;
/** A slow client (trickled headers or body, stalled body, idle connection) must be cut within this. */
const SLOW_CLIENT_BOUND_MS = 30_000;
/** Cleanup after a failed upload (temp file removal) is asynchronous: allow it this long. */
const SETTLE_MS = 5_000;
/** Node's default max header size; larger request heads must be refused (431) or closed, never hang. */
const MAX_HEADER_BYTES = 16 * KiB;

const CLIENT_TOKEN = `client-${randomBytes(12).toString('hex')}`;
const READ_TOKEN = `reader-${randomBytes(12).toString('hex')}`;

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** The connection closed before the whole body arrived. */
  truncated: boolean;
}

interface Exchange {
  responses: RawResponse[];
  /** The server closed (or reset) the connection. */
  closedByServer: boolean;
  /** Neither an answer nor a close within the exchange's bound. */
  timedOut: boolean;
  ms: number;
}

type Step = Buffer | { pauseMs: number };
/** What the client does once it has sent its steps: wait for the server, half-close, or cut the connection. */
type Finish = 'wait' | 'end' | 'destroy' | 'reset';

const hex2 = (b: number) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`;

/** Deterministic bytes from a seed (xorshift32): large bodies without asking fast-check for megabytes. */
function bytesFrom(seed: number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed | 0 || 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * Splits a byte stream into the HTTP/1.1 responses it holds (1xx skipped; a cut-off last one is marked truncated).
 * Answers to HEAD, and 204/304, have no body whatever their Content-Length says.
 */
function parseResponses(buf: Buffer, head = false): RawResponse[] {
  const out: RawResponse[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const headEnd = buf.indexOf('\r\n\r\n', pos);
    if (headEnd < 0) break;
    const lines = buf.subarray(pos, headEnd).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1]);
    if (!Number.isInteger(status)) throw new Error(`not an HTTP response: ${JSON.stringify(lines[0])}`);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const i = line.indexOf(':');
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    pos = headEnd + 4;
    if (status >= 100 && status < 200) continue;
    if (head || status === 204 || status === 304) {
      out.push({ status, headers, body: Buffer.alloc(0), truncated: false });
    } else if (headers['content-length'] !== undefined) {
      const len = Number(headers['content-length']);
      const body = buf.subarray(pos, pos + len);
      out.push({ status, headers, body, truncated: body.length < len });
      pos += len;
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const parts: Buffer[] = [];
      let done = false;
      while (!done) {
        const lineEnd = buf.indexOf('\r\n', pos);
        if (lineEnd < 0) break;
        const size = parseInt(buf.subarray(pos, lineEnd).toString('latin1'), 16);
        if (size === 0) {
          done = true;
          pos = buf.indexOf('\r\n\r\n', lineEnd) >= 0 ? buf.indexOf('\r\n\r\n', lineEnd) + 4 : buf.length;
          break;
        }
        parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
        pos = lineEnd + 2 + size + 2;
      }
      out.push({ status, headers, body: Buffer.concat(parts), truncated: !done });
      if (!done) break;
    } else {
      out.push({ status, headers, body: buf.subarray(pos), truncated: false });
      break;
    }
  }
  return out;
}

describe('hostile input against a live node and its registry', () => {
  let cluster: Cluster;
  let node: ShoalProcess;
  let registry: ShoalProcess;
  let nodeId: string;
  /** Keys the local listing may hold: the fixtures and the canary. Anything else is a leak of a failed upload. */
  const expectedKeys = new Set<string>();
  let counter = 0;
  const freshKey = (prefix: string) => `hostile/${prefix}/${Date.now().toString(36)}-${counter++}`;
  const encodeKey = (key: string) => key.split('/').map(encodeURIComponent).join('/');

  // ---------------------------------------------------------------------------------------------------------------
  // Transport: raw sockets for what node:http would refuse or normalise, node:http for ordinary calls.

  /**
   * One request as bytes, sent exactly as given: the target is not encoded, header values may be raw bytes. The
   * connection stays keep-alive unless a Connection header says otherwise (a server that answers early then reads and
   * drops the rest of the body, so its answer is not lost to a reset).
   */
  function rawRequest(method: string, target: string | Buffer, headers: Array<[string, string | Buffer]> = [], body?: Buffer, port = node.port): Buffer {
    const names = new Set(headers.map(([k]) => k.toLowerCase()));
    const all: Array<[string, string | Buffer]> = [];
    if (!names.has('host')) all.push(['Host', `127.0.0.1:${port}`]);
    all.push(...headers);
    const head = [Buffer.from(`${method} `, 'latin1'), Buffer.isBuffer(target) ? target : Buffer.from(target, 'latin1'), Buffer.from(' HTTP/1.1\r\n', 'latin1')];
    for (const [k, v] of all) head.push(Buffer.from(`${k}: `, 'latin1'), Buffer.isBuffer(v) ? v : Buffer.from(v, 'latin1'), Buffer.from('\r\n'));
    head.push(Buffer.from('\r\n'));
    return Buffer.concat(body ? [...head, body] : head);
  }

  interface ExchangeOptions {
    finish?: Finish;
    timeoutMs?: number;
    port?: number;
    /** Wait for the server to close even after a whole answer. */
    untilClose?: boolean;
    /** The request is a HEAD: its answer has no body. */
    head?: boolean;
  }

  /**
   * Connects to 127.0.0.1, sends the steps (pausing where asked), then finishes as asked. Resolves once everything is
   * sent and a whole answer has arrived (unless `untilClose`), when the server closes, or after `timeoutMs` (timedOut)
   * — never later. 'destroy' and 'reset' cut the connection and resolve at once.
   */
  function exchange(steps: Step[], options: ExchangeOptions = {}): Promise<Exchange> {
    const { finish = 'wait', timeoutMs = ANSWER_MS, port = node.port, untilClose = false, head = false } = options;
    return new Promise((resolve) => {
      const started = Date.now();
      const socket = net.connect({ host: '127.0.0.1', port });
      const received: Buffer[] = [];
      let settled = false;
      let closedByServer = false;
      let sentAll = false;
      const done = (timedOut: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        resolve({ responses: parseResponses(Buffer.concat(received), head), closedByServer, timedOut, ms: Date.now() - started });
      };
      const answered = () => {
        if (untilClose || !sentAll) return;
        const responses = parseResponses(Buffer.concat(received), head);
        if (responses.length > 0 && !responses[0].truncated) done(false);
      };
      const timer = setTimeout(() => done(true), timeoutMs);
      socket.on('data', (c: Buffer) => {
        received.push(c);
        answered();
      });
      socket.on('end', () => {
        closedByServer = true;
        done(false);
      });
      socket.on('close', () => {
        if (!settled) closedByServer = true;
        done(false);
      });
      socket.on('error', () => undefined); // EPIPE/ECONNRESET when the server closes while we write: 'close' follows
      socket.once('connect', () => {
        void (async () => {
          for (const step of steps) {
            if (settled || socket.destroyed) return;
            if (Buffer.isBuffer(step)) {
              if (!socket.write(step)) await Promise.race([once(socket, 'drain'), once(socket, 'close')]).catch(() => undefined);
            } else {
              await sleep(step.pauseMs);
            }
          }
          if (settled || socket.destroyed) return;
          sentAll = true;
          answered();
          if (finish === 'end') socket.end();
          else if (finish === 'destroy' || finish === 'reset') {
            // Give the kernel a moment to hand the bytes over before the cut, so the server sees a partial body.
            await sleep(20);
            if (finish === 'reset') socket.resetAndDestroy();
            else socket.destroy();
            done(false);
          }
        })();
      });
    });
  }

  interface Res {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: Buffer;
  }

  function call(method: string, p: string, opts: { headers?: Record<string, string>; body?: Buffer | string; token?: string | null; port?: number } = {}): Promise<Res> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { ...opts.headers };
      const token = opts.token === undefined ? CLIENT_TOKEN : opts.token;
      if (token) headers.authorization = `Bearer ${token}`;
      const req = http.request({ host: '127.0.0.1', port: opts.port ?? node.port, method, path: p, headers, agent: false, timeout: ANSWER_MS }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${p} got no answer within ${ANSWER_MS} ms`)));
      req.on('error', reject);
      req.end(opts.body);
    });
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Invariants.

  /** A 4xx application/problem+json whose `status` matches and which carries a `code`. */
  function expectProblem(r: { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }, context: string, statuses?: number[]): Record<string, unknown> {
    const what = `${context}: ${r.status} ${String(r.headers['content-type'])} ${r.body.subarray(0, 300).toString('utf8')}`;
    if (r.status < 400 || r.status > 499) throw new Error(`expected a 4xx problem, got ${what}`);
    if (statuses && !statuses.includes(r.status)) throw new Error(`expected one of ${statuses.join('/')}, got ${what}`);
    if (!/^application\/problem\+json\b/.test(String(r.headers['content-type']))) throw new Error(`not application/problem+json: ${what}`);
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(r.body.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new Error(`problem body is not JSON: ${what}`);
    }
    if (typeof doc.code !== 'string' || doc.code === '') throw new Error(`problem without a code: ${what}`);
    if (doc.status !== r.status) throw new Error(`problem status ${String(doc.status)} differs from HTTP status: ${what}`);
    return doc;
  }

  /**
   * Every answer of an exchange is a 4xx problem (or, when `success` allows it, that success); no 5xx; no hang.
   * With `mustAnswer`, a close without any answer is a failure too.
   */
  function expectRefused(ex: Exchange, context: string, opts: { success?: (r: RawResponse) => boolean; mustAnswer?: boolean; statuses?: number[] } = {}): void {
    if (ex.timedOut) throw new Error(`${context}: neither an answer nor a close within ${ANSWER_MS} ms`);
    if (opts.mustAnswer && ex.responses.length === 0) throw new Error(`${context}: the connection closed without an answer`);
    for (const r of ex.responses) {
      if (r.status >= 200 && r.status < 300 && opts.success?.(r)) continue;
      if (r.truncated) throw new Error(`${context}: a truncated ${r.status} answer`);
      expectProblem(r, context, opts.statuses);
    }
  }

  /** Temp files a failed test already reported: later tests only answer for their own (no cascade of failures). */
  const reportedTmp = new Set<string>();
  const tmpDir = () => path.join(node.dataDir, 'tmp');

  async function expectTmpEmpty(context: string): Promise<void> {
    let left: string[] = [];
    await pollUntil(
      async () => {
        left = (await readdir(tmpDir())).filter((f) => !reportedTmp.has(f));
        return left.length === 0;
      },
      {
        timeoutMs: SETTLE_MS,
        intervalMs: 50,
        message: () => {
          left.forEach((f) => reportedTmp.add(f));
          return `${context}: DATA_DIR/tmp/ still holds ${left.join(', ')} after ${SETTLE_MS} ms`;
        },
      },
    );
  }

  async function localKeys(): Promise<string[]> {
    const r = await call('GET', '/v1/files?local=true&limit=1000');
    expect(r.status).toBe(200);
    return (JSON.parse(r.body.toString('utf8')) as { items: Array<{ key: string }> }).items.map((i) => i.key);
  }

  /** The keys a failed case used are absent, and the listing holds nothing but the fixtures. */
  async function expectNothingStored(keys: string[], context: string): Promise<void> {
    for (const key of keys) {
      const r = await call('HEAD', `/v1/files/${encodeKey(key)}`);
      if (r.status !== 404) {
        expectedKeys.add(key);
        throw new Error(`${context}: HEAD ${key} answered ${r.status}; a failed upload left it visible`);
      }
    }
    const leaked = (await localKeys()).filter((k) => !expectedKeys.has(k));
    leaked.forEach((k) => expectedKeys.add(k)); // reported once, here
    if (leaked.length) throw new Error(`${context}: unexpected keys stored: ${leaked.map((k) => JSON.stringify(k)).join(', ')}`);
  }

  /** The node still answers and still stores: /health/live, then a PUT/GET round trip of fresh bytes. */
  async function expectServing(context: string): Promise<void> {
    if (!node.running) throw new Error(`${context}: the node process exited\n${node.logs()}`);
    const live = await call('GET', '/health/live', { token: null });
    if (live.status !== 200) throw new Error(`${context}: /health/live answered ${live.status}`);
    const data = randomBytes(64 + (counter % 512));
    const put = await call('PUT', '/v1/files/hostile/canary', { body: data });
    if (put.status !== 201) throw new Error(`${context}: canary PUT answered ${put.status} ${put.body.toString('utf8')}`);
    const got = await call('GET', '/v1/files/hostile/canary');
    if (got.status !== 200 || !got.body.equals(data)) throw new Error(`${context}: canary GET answered ${got.status} with other bytes`);
  }

  async function afterCase(context: string, keys: string[] = []): Promise<void> {
    await expectTmpEmpty(context);
    await expectNothingStored(keys, context);
    await expectServing(context);
  }

  const runs = (numRuns: number) => ({ seed: SEED, numRuns, endOnFailure: true });

  // ---------------------------------------------------------------------------------------------------------------

  beforeAll(async () => {
    cluster = await startCluster({ nodes: 1, nodeEnv: { API_TOKENS: CLIENT_TOKEN, API_READ_TOKENS: READ_TOKEN } });
    node = cluster.nodes[0];
    registry = cluster.registry;
    const info = await call('GET', '/v1/node');
    expect(info.status).toBe(200);
    nodeId = (JSON.parse(info.body.toString('utf8')) as { id: string }).id;
    expectedKeys.add('hostile/canary');
    await expectServing('start');
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  // ---------------------------------------------------------------------------------------------------------------
  describe('keys and percent-encodings', () => {
    /** What a client means by the raw bytes after /v1/files/: percent-decoded once as UTF-8, or nothing valid. */
    function intendedKey(raw: Buffer): string | undefined {
      const bytes: number[] = [];
      for (let i = 0; i < raw.length; i++) {
        const b = raw[i];
        if (b === 0x25) {
          const h = raw.subarray(i + 1, i + 3).toString('latin1');
          if (!/^[0-9a-fA-F]{2}$/.test(h)) return undefined;
          bytes.push(parseInt(h, 16));
          i += 2;
        } else if (b < 0x21 || b > 0x7e) {
          return undefined; // outside visible ASCII: not a valid request target
        } else {
          bytes.push(b);
        }
      }
      let key: string;
      try {
        key = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(bytes));
      } catch {
        return undefined;
      }
      if (key === '' || /[\u0000-\u001f\u007f-\u009f]/.test(key) || Buffer.byteLength(key) > 1024) return undefined;
      return key;
    }

    const pctAll = (s: string) => [...Buffer.from(s, 'utf8')].map(hex2).join('');
    /** Percent-encodes a key as a client library might: per segment, `/` kept or sent as %2F, or every byte escaped. */
    const encodedKey = fc.tuple(fc.string({ unit: 'binary', minLength: 1, maxLength: 24 }).filter((s) => s.isWellFormed()), fc.constantFrom('segments', 'slash-escaped', 'all')).map(([key, how]) =>
      how === 'all' ? pctAll(key) : how === 'segments' ? encodeKey(key) : encodeURIComponent(key),
    );
    const visibleAscii = fc.integer({ min: 0x21, max: 0x7e }).filter((c) => c !== 0x3f && c !== 0x23 && c !== 0x25).map((c) => String.fromCharCode(c));
    const pieces = fc.array(
      fc.oneof(
        visibleAscii,
        fc.integer({ min: 0, max: 255 }).map(hex2),
        fc.constantFrom('/', '..', '.', '%2F', '%2e%2e', '%2E', '%25', '%00', '%7F', '%C2%85', '%0D%0A', '%EF%BF%BD', '%F0%9F%98%80', '%E2%80%AE'),
      ),
      { minLength: 1, maxLength: 30 },
    ).map((p) => p.join(''));
    const badEscapes = fc.tuple(
      fc.stringMatching(/^[a-z0-9]{0,5}$/),
      fc.constantFrom('%', '%G0', '%0', '%%', '%u0041', '%C3', '%C3%28', '%E2%82', '%F0%9F%98', '%C0%80', '%C0%AF', '%ED%A0%80', '%ED%B0%80', '%F4%90%80%80', '%FF', '%FE%FF', '%80'),
      fc.stringMatching(/^[a-z0-9]{0,5}$/),
    ).map((p) => p.join(''));
    const long = fc.oneof(
      fc.integer({ min: 1015, max: 1035 }).map((n) => 'k'.repeat(n)),
      fc.integer({ min: 505, max: 520 }).map((n) => encodeURIComponent('é'.repeat(n))),
      fc.integer({ min: 250, max: 260 }).map((n) => encodeURIComponent('😀'.repeat(n))),
      fc.constantFrom('a'.repeat(12 * KiB), encodeURIComponent('é'.repeat(3000))), // the second exceeds the header limit
    );
    const rawBytes = fc.uint8Array({ minLength: 1, maxLength: 24 }).map((a) => Buffer.from(a.filter((b) => b !== 0x20 && b !== 0x0d && b !== 0x0a && b !== 0x3f && b !== 0x23)));
    const rawTarget = fc.oneof(
      { weight: 3, arbitrary: encodedKey.map((s) => Buffer.from(s, 'latin1')) },
      { weight: 3, arbitrary: pieces.map((s) => Buffer.from(s, 'latin1')) },
      { weight: 2, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 40 }).map((a) => Buffer.from([...a].map(hex2).join(''), 'latin1')) },
      { weight: 2, arbitrary: badEscapes.map((s) => Buffer.from(s, 'latin1')) },
      { weight: 1, arbitrary: long.map((s) => Buffer.from(s, 'latin1')) },
      { weight: 1, arbitrary: rawBytes.filter((b) => b.length > 0) },
    );

    it('PUT/GET/HEAD/DELETE of any target: the intended key round-trips, anything else is a 4xx problem and stores nothing', async () => {
      await fc.assert(
        fc.asyncProperty(rawTarget, fc.integer(), async (raw, seed) => {
          const target = Buffer.concat([Buffer.from('/v1/files/'), raw]);
          const context = `PUT ${JSON.stringify(target.toString('latin1').slice(0, 200))}`;
          const intended = intendedKey(raw);
          const tooLong = target.length > MAX_HEADER_BYTES - 200;
          const data = bytesFrom(seed, seed & 0xff);
          const put = await exchange([rawRequest('PUT', target, [['Authorization', `Bearer ${CLIENT_TOKEN}`], ['Content-Length', String(data.length)]], data)]);
          if (intended !== undefined && !tooLong) {
            expect(put.timedOut).toBe(false);
            const r = put.responses[0];
            if (r?.status !== 201) throw new Error(`${context}: a valid key ${JSON.stringify(intended)} was refused: ${r?.status} ${r?.body.toString('utf8')}`);
            expect((JSON.parse(r.body.toString('utf8')) as { key: string }).key).toBe(intended);
            const get = await exchange([rawRequest('GET', target, [['Authorization', `Bearer ${CLIENT_TOKEN}`]])]);
            expect(get.responses[0]?.status).toBe(200);
            expect(get.responses[0].body.equals(data)).toBe(true);
            expect(await localKeys()).toContain(intended);
            const del = await exchange([rawRequest('DELETE', target, [['Authorization', `Bearer ${CLIENT_TOKEN}`]])]);
            expect(del.responses[0]?.status).toBe(204);
            await afterCase(context, [intended]);
            return;
          }
          expectRefused(put, context, { mustAnswer: !tooLong });
          for (const method of ['GET', 'HEAD', 'DELETE']) {
            const ex = await exchange([rawRequest(method, target, [['Authorization', `Bearer ${CLIENT_TOKEN}`]])], { head: method === 'HEAD' });
            if (method === 'HEAD') {
              if (ex.timedOut || ex.responses.some((r) => r.status < 400 || r.status > 499)) throw new Error(`HEAD ${context}: ${ex.responses.map((r) => r.status).join(',') || 'no answer'}`);
            } else {
              expectRefused(ex, `${method} ${context}`, { mustAnswer: !tooLong });
            }
          }
          await afterCase(context);
        }),
        runs(70),
      );
    }, 60_000);

    it('listing with any prefix, limit, cursor and local: 200 or a 4xx problem', async () => {
      const value = fc.oneof(
        fc.string({ maxLength: 12 }).map(encodeURIComponent),
        fc.uint8Array({ maxLength: 12 }).map((a) => [...a].map(hex2).join('')),
        fc.constantFrom('', '%', '%ZZ', '0', '-1', '1e3', '1001', '99999999999999999999', 'NaN', 'true', 'false', '1', '%00', 'a&b', '..', encodeURIComponent(Buffer.from('{"k":1}').toString('base64url')), encodeURIComponent(Buffer.from('not json').toString('base64url'))),
      );
      const query = fc.array(fc.tuple(fc.constantFrom('prefix', 'limit', 'cursor', 'local', 'extra', 'limit[]'), value), { maxLength: 5 }).map((kv) => kv.map(([k, v]) => `${k}=${v}`).join('&'));
      await fc.assert(
        fc.asyncProperty(query, async (q) => {
          const ex = await exchange([rawRequest('GET', `/v1/files?${q}`, [['Authorization', `Bearer ${CLIENT_TOKEN}`]])]);
          expectRefused(ex, `GET /v1/files?${q}`, { mustAnswer: true, success: (r) => r.status === 200 && Array.isArray((JSON.parse(r.body.toString('utf8')) as { items?: unknown }).items) });
        }),
        runs(40),
      );
      await afterCase('listing');
    }, 30_000);
  });

  // ---------------------------------------------------------------------------------------------------------------
  describe('framing: lying Content-Length, cut connections, broken chunking', () => {
    /** A well-formed form for `key`: the key field first, then the file. */
    function form(key: string, file: Buffer, boundary = 'HostileBoundary7MA4YWxk'): { body: Buffer; contentType: string } {
      const body = Buffer.concat([
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="key"\r\n\r\n${key}\r\n`),
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`),
        file,
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
      return { body, contentType: `multipart/form-data; boundary=${boundary}` };
    }

    const size = fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 16 * KiB, max: 100 * KiB }), fc.integer({ min: MiB + 1, max: 2 * MiB + 512 * KiB }));
    const scenario = fc.record({
      how: fc.constantFrom('PUT', 'POST'),
      mode: fc.constantFrom('longer', 'shorter', 'cut'),
      finish: fc.constantFrom<Finish>('end', 'destroy', 'reset', 'wait'),
      size,
      extra: fc.integer({ min: 1, max: 4 * MiB }),
      fraction: fc.double({ min: 0, max: 0.999, noNaN: true }),
      seed: fc.integer(),
    });

    it('a body shorter or longer than its Content-Length, or cut off, stores nothing partial and leaves tmp/ empty', async () => {
      await fc.assert(
        fc.asyncProperty(scenario, async (s) => {
          const key = freshKey('framing');
          const file = bytesFrom(s.seed, s.size);
          const { body, contentType } = s.how === 'PUT' ? { body: file, contentType: 'application/octet-stream' } : form(key, file);
          const target = s.how === 'PUT' ? `/v1/files/${encodeKey(key)}` : '/v1/files';
          let declared = body.length;
          let sent = body;
          // 'wait' with a longer Content-Length is the stalled-body case: covered (with its longer bound) below.
          const finish: Finish = s.mode === 'longer' && s.finish === 'wait' ? 'end' : s.finish;
          if (s.mode === 'longer') declared = body.length + s.extra;
          if (s.mode === 'shorter') {
            if (body.length === 0) return;
            declared = Math.floor(body.length * s.fraction);
          }
          if (s.mode === 'cut') sent = body.subarray(0, Math.floor(body.length * s.fraction));
          const context = `${s.how} ${s.mode} size=${body.length} declared=${declared} sent=${sent.length} finish=${finish}`;
          const head = rawRequest(s.how, target, [['Authorization', `Bearer ${CLIENT_TOKEN}`], ['Content-Type', contentType], ['Content-Length', String(declared)]]);
          // A whole body sent normally (a 'cut' of fraction 0 with finish 'wait' is a plain empty-body stall, skip it).
          if (s.mode === 'cut' && finish === 'wait') return;
          const ex = await exchange([head, sent], { finish });
          // With a shorter Content-Length the server reads a complete request of `declared` bytes; the rest is
          // garbage for the parser. Storing exactly that declared prefix is correct HTTP (for a form: a form cut
          // only in its epilogue still holds the whole file); anything else is not.
          const allowed = s.how === 'PUT' ? body.subarray(0, declared) : file;
          const prefixOk = (r: RawResponse) => s.mode === 'shorter' && r.status === 201 && (JSON.parse(r.body.toString('utf8')) as { sha256: string }).sha256 === sha(allowed);
          if (finish === 'end' || finish === 'wait') expectRefused(ex, context, { success: prefixOk });
          if (s.mode === 'shorter') {
            // Unless the answer came from the handler itself, that complete request may still be in flight (the
            // connection was cut, or the parser refused the leftover bytes first): give it a moment to land.
            const first = ex.responses[0];
            const settled = first !== undefined && (first.status === 201 || !/"code":"BAD_REQUEST"/.test(first.body.toString('utf8')));
            await expectTmpEmpty(context);
            let h = await call('GET', `/v1/files/${encodeKey(key)}`);
            for (let i = 0; i < 10 && !settled && h.status === 404; i++) {
              await sleep(100);
              h = await call('GET', `/v1/files/${encodeKey(key)}`);
            }
            if (h.status === 200) {
              if (!h.body.equals(allowed)) throw new Error(`${context}: stored ${h.body.length} bytes that are not what the declared length delimits`);
              expect((await call('DELETE', `/v1/files/${encodeKey(key)}`)).status).toBe(204);
            } else {
              expect(h.status).toBe(404);
            }
          }
          await afterCase(context, [key]);
        }),
        runs(36),
      );
    }, 90_000);

    it('broken framing (bad chunk sizes, truncated chunks, conflicting or malformed Content-Length) is a 4xx or a close', async () => {
      const cases: Array<[string, Buffer[], Finish]> = [];
      const key = freshKey('chunked');
      const target = `/v1/files/${encodeKey(key)}`;
      const auth: [string, string] = ['Authorization', `Bearer ${CLIENT_TOKEN}`];
      const big = bytesFrom(7, MiB + 100 * KiB);
      const chunked = (parts: Buffer[]) => parts.flatMap((p) => [Buffer.from(`${p.length.toString(16)}\r\n`), p, Buffer.from('\r\n')]);
      cases.push(['bad chunk size', [rawRequest('PUT', target, [auth, ['Transfer-Encoding', 'chunked']]), Buffer.from('zz\r\nhello\r\n0\r\n\r\n')], 'wait']);
      cases.push(['chunk longer than said', [rawRequest('PUT', target, [auth, ['Transfer-Encoding', 'chunked']]), Buffer.from('2\r\nhello\r\n0\r\n\r\n')], 'wait']);
      cases.push(['chunked cut mid-chunk (end)', [rawRequest('PUT', target, [auth, ['Transfer-Encoding', 'chunked']]), ...chunked([big]).slice(0, 1), big.subarray(0, 600 * KiB)], 'end']);
      cases.push(['chunked cut mid-chunk (reset)', [rawRequest('PUT', target, [auth, ['Transfer-Encoding', 'chunked']]), ...chunked([big.subarray(0, MiB), big.subarray(MiB)]).slice(0, 4)], 'reset']);
      cases.push(['chunked without last chunk (end)', [rawRequest('PUT', target, [auth, ['Transfer-Encoding', 'chunked']]), ...chunked([big])], 'end']);
      cases.push(['huge chunk size', [rawRequest('PUT', target, [auth, ['Transfer-Encoding', 'chunked']]), Buffer.from('ffffffffffffffffffff\r\nx\r\n')], 'end']);
      cases.push(['chunk extension flood', [rawRequest('PUT', target, [auth, ['Transfer-Encoding', 'chunked']]), Buffer.from(`1;${'e'.repeat(40 * KiB)}\r\nx\r\n0\r\n\r\n`)], 'wait']);
      cases.push(['Content-Length and chunked', [rawRequest('PUT', target, [auth, ['Content-Length', '5'], ['Transfer-Encoding', 'chunked']]), Buffer.from('5\r\nhello\r\n0\r\n\r\n')], 'wait']);
      cases.push(['negative Content-Length', [rawRequest('PUT', target, [auth, ['Content-Length', '-5']]), Buffer.from('hello')], 'wait']);
      cases.push(['non-numeric Content-Length', [rawRequest('PUT', target, [auth, ['Content-Length', '5x']]), Buffer.from('hello')], 'wait']);
      cases.push(['two different Content-Lengths', [rawRequest('PUT', target, [auth, ['Content-Length', '5'], ['Content-Length', '6']]), Buffer.from('hello!')], 'wait']);
      cases.push(['enormous Content-Length', [rawRequest('PUT', target, [auth, ['Content-Length', '99999999999999999999999']]), Buffer.from('hello')], 'end']);
      cases.push(['unknown Transfer-Encoding', [rawRequest('PUT', target, [auth, ['Transfer-Encoding', 'gzip, chunked2']]), Buffer.from('hello')], 'end']);
      cases.push(['not HTTP at all', [Buffer.from('\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003', 'latin1')], 'wait']);
      cases.push(['request line only, then close', [Buffer.from(`PUT ${target} HTTP/1.1\r\n`)], 'end']);
      cases.push(['HTTP/2 preface', [Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')], 'wait']);
      for (const [name, steps, finish] of cases) {
        const ex = await exchange(steps, { finish });
        if (finish !== 'destroy' && finish !== 'reset') expectRefused(ex, name);
        await afterCase(name, [key]);
      }
    }, 60_000);
  });

  // ---------------------------------------------------------------------------------------------------------------
  describe('malformed multipart', () => {
    const variant = fc.record({
      kind: fc.constantFrom(
        'no-boundary', 'wrong-boundary', 'not-multipart', 'no-content-type', 'truncated', 'two-files', 'no-file', 'wrong-field-name',
        'huge-field', 'too-many-parts', 'bad-key-field', 'garbage', 'no-disposition', 'empty-body', 'file-then-bad-key', 'file-then-huge-field',
      ),
      big: fc.boolean(),
      seed: fc.integer(),
      cut: fc.double({ min: 0, max: 0.999, noNaN: true }),
      badKey: fc.constantFrom('', 'a\u0001b', 'x'.repeat(1025), '\u007f', 'é'.repeat(513), 'a\u0085b', 'tab\tkey', 'nul\u0000'),
      hugeLen: fc.integer({ min: 4097, max: 64 * KiB }),
    });

    interface Part {
      name?: string;
      filename?: string;
      data: Buffer | string;
      noDisposition?: boolean;
    }
    function encode(boundary: string, parts: Part[]): Buffer {
      const out: Buffer[] = [];
      for (const p of parts) {
        const disposition = p.noDisposition ? '' : `Content-Disposition: form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}\r\n`;
        const type = p.filename !== undefined || p.noDisposition ? 'Content-Type: application/octet-stream\r\n' : '';
        out.push(Buffer.from(`--${boundary}\r\n${disposition}${type}\r\n`), Buffer.isBuffer(p.data) ? p.data : Buffer.from(p.data), Buffer.from('\r\n'));
      }
      out.push(Buffer.from(`--${boundary}--\r\n`));
      return Buffer.concat(out);
    }

    it('every malformed form is a 4xx problem; nothing is stored and tmp/ is empty', async () => {
      await fc.assert(
        fc.asyncProperty(variant, async (v) => {
          const key = freshKey('form');
          const filename = `${freshKey('form-name')}.bin`;
          const file = bytesFrom(v.seed, v.big ? MiB + 256 * KiB + (v.seed & 0xffff) : v.seed & 0xff);
          const boundary = `b${(v.seed >>> 0).toString(36)}XyZ`;
          const fileField: Part = { name: 'file', filename, data: file };
          const keyField: Part = { name: 'key', data: key };
          let contentType: string | undefined = `multipart/form-data; boundary=${boundary}`;
          let body: Buffer;
          switch (v.kind) {
            case 'no-boundary': contentType = 'multipart/form-data'; body = encode(boundary, [keyField, fileField]); break;
            case 'wrong-boundary': body = encode(`${boundary}Other`, [keyField, fileField]); break;
            case 'not-multipart': contentType = 'text/plain'; body = encode(boundary, [keyField, fileField]); break;
            case 'no-content-type': contentType = undefined; body = encode(boundary, [keyField, fileField]); break;
            case 'truncated': {
              const whole = encode(boundary, [keyField, fileField]);
              body = whole.subarray(0, Math.floor((whole.length - boundary.length - 8) * v.cut));
              break;
            }
            case 'two-files': body = encode(boundary, [keyField, fileField, { name: 'file', filename: 'second.bin', data: 'second' }]); break;
            case 'no-file': body = encode(boundary, [keyField, { name: 'note', data: 'no file here' }]); break;
            case 'wrong-field-name': body = encode(boundary, [keyField, { ...fileField, name: 'upload' }]); break;
            case 'huge-field': body = encode(boundary, [{ name: 'key', data: 'k'.repeat(v.hugeLen) }, fileField]); break;
            case 'file-then-huge-field': body = encode(boundary, [fileField, { name: 'note', data: 'n'.repeat(v.hugeLen) }]); break;
            case 'too-many-parts': body = encode(boundary, [...Array.from({ length: 12 }, (_, i) => ({ name: `f${i}`, data: 'x' })), keyField, fileField]); break;
            case 'bad-key-field': body = encode(boundary, [{ name: 'key', data: v.badKey }, { ...fileField, filename: '' }]); break;
            case 'file-then-bad-key': body = encode(boundary, [{ ...fileField, filename: '' }, { name: 'key', data: v.badKey }]); break;
            case 'garbage': body = bytesFrom(v.seed ^ 0x55, file.length); break;
            case 'no-disposition': body = encode(boundary, [keyField, { data: file, noDisposition: true }]); break;
            case 'empty-body': body = Buffer.alloc(0); break;
          }
          const context = `POST form ${v.kind} (${body.length} bytes${v.kind.includes('key') ? `, key ${JSON.stringify(v.badKey.slice(0, 20))}` : ''})`;
          const headers: Array<[string, string]> = [['Authorization', `Bearer ${CLIENT_TOKEN}`], ['Content-Length', String(body.length)]];
          if (contentType) headers.push(['Content-Type', contentType]);
          const ex = await exchange([rawRequest('POST', '/v1/files', headers, body)]);
          expectRefused(ex, context, { mustAnswer: true });
          await afterCase(context, [key, filename]);
        }),
        runs(40),
      );
    }, 90_000);
  });

  // ---------------------------------------------------------------------------------------------------------------
  describe('Range and X-Content-SHA256', () => {
    const fixtures: Array<{ key: string; data: Buffer }> = [];

    beforeAll(async () => {
      for (const [key, n] of [['hostile/range/inline', 1000], ['hostile/range/blob', 40 * KiB + 3]] as const) {
        const data = bytesFrom(n, n);
        expect((await call('PUT', `/v1/files/${key}`, { body: data })).status).toBe(201);
        fixtures.push({ key, data });
        expectedKeys.add(key);
      }
    });

    /** RFC 9110 for one `bytes=` range, as the server promises to serve it: 206 with this slice, or 416. */
    function reference(header: string, size: number): { start: number; end: number } | 'unsatisfiable' | 'invalid' {
      const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
      if (!m || (m[1] === '' && m[2] === '')) return 'invalid';
      if (m[1] === '') {
        const n = Number(m[2]);
        return n === 0 || size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - n), end: size - 1 };
      }
      const start = Number(m[1]);
      if (m[2] !== '' && Number(m[2]) < start) return 'invalid';
      if (start >= size) return 'unsatisfiable';
      return { start, end: m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1) };
    }

    const num = fc.oneof(fc.nat({ max: 50 * KiB }), fc.constantFrom(0, 1, 999, 1000, 1001, 40 * KiB + 2, 40 * KiB + 3, Number.MAX_SAFE_INTEGER)).map(String);
    const range = fc.oneof(
      fc.tuple(num, num).map(([a, b]) => `bytes=${a}-${b}`),
      num.map((a) => `bytes=${a}-`),
      num.map((b) => `bytes=-${b}`),
      fc.constantFrom(
        'bytes=', 'bytes=-', 'bytes=--1', 'bytes=1-2,3-4', 'bytes=0-0,-1', 'items=0-1', 'bytes=0x10-20', 'bytes= 1-2', 'bytes=1 -2', 'bytes=-0',
        'bytes=99999999999999999999-', 'bytes=0-99999999999999999999999', 'bytes=1.5-2', 'bytes=+1-2', 'BYTES=0-1', '', ' ', 'bytes=1-2-3',
        'bytes=\u0663-\u0664', 'bytes=0-1\u0000', `bytes=${'9'.repeat(400)}-`, 'bytes=-1e3', 'bytes=\t0-1',
      ),
      fc.string({ unit: 'binary', maxLength: 30 }).filter((s) => !/[\r\n]/.test(s)),
    );

    it('any Range on an inline and a blob file: 200, the exact 206 slice, or a 400/416 problem', async () => {
      await fc.assert(
        fc.asyncProperty(fc.nat({ max: 1 }), range, fc.boolean(), async (which, header, withEtag) => {
          const { key, data } = fixtures[which];
          const headers: Array<[string, string | Buffer]> = [['Authorization', `Bearer ${CLIENT_TOKEN}`], ['Range', Buffer.from(header, 'utf8')]];
          if (withEtag) headers.push(['If-None-Match', '"0000", W/"x", *junk']);
          const context = `GET ${key} Range ${JSON.stringify(header)}`;
          const ex = await exchange([rawRequest('GET', `/v1/files/${key}`, headers)]);
          const expected = reference(Buffer.from(header, 'utf8').toString('latin1'), data.length);
          expectRefused(ex, context, {
            mustAnswer: !/[\u0000]/.test(header) && !/[^\t\u0020-\u007e\u0080-\u00ff]/.test(header),
            statuses: [400, 416],
            success: (r) => {
              if (r.status === 200) return r.body.equals(data);
              if (r.status !== 206 || typeof expected !== 'object') throw new Error(`${context}: ${r.status}, expected ${JSON.stringify(expected)}`);
              if (r.headers['content-range'] !== `bytes ${expected.start}-${expected.end}/${data.length}`) throw new Error(`${context}: Content-Range ${r.headers['content-range']}`);
              return r.body.equals(data.subarray(expected.start, expected.end + 1));
            },
          });
          const r = ex.responses[0];
          if (r?.status === 416) expect(r.headers['content-range']).toBe(`bytes */${data.length}`);
          if (r && typeof expected === 'object') expect([200, 206]).toContain(r.status);
          if (r && expected === 'unsatisfiable') expect(r.status).toBe(416);
        }),
        runs(60),
      );
      await afterCase('range');
    }, 30_000);

    const shaHeader = fc.oneof(
      fc.constantFrom('correct', 'correct-upper', 'correct-padded'),
      fc.constantFrom('wrong-hex', 'wrong-hex', 'short', 'long', 'non-hex', 'empty', 'prefixed', 'base64', 'duplicate', 'unicode'),
    );

    it('X-Content-SHA256: the right digest stores, a wrong or malformed one is a 400 problem and stores nothing', async () => {
      await fc.assert(
        fc.asyncProperty(shaHeader, fc.oneof(fc.nat({ max: 20 * KiB }), fc.integer({ min: MiB, max: MiB + 512 * KiB })), fc.integer(), async (kind, n, seed) => {
          const key = freshKey('sha');
          const data = bytesFrom(seed, n);
          const right = sha(data);
          const other = sha(Buffer.concat([data, Buffer.from([1])]));
          const values: Record<string, Array<string | Buffer>> = {
            correct: [right],
            'correct-upper': [right.toUpperCase()],
            'correct-padded': [` ${right} `],
            'wrong-hex': [other],
            short: [right.slice(0, 63)],
            long: [`${right}0`],
            'non-hex': [`${right.slice(0, 63)}g`],
            empty: [''],
            prefixed: [`sha256=${right}`],
            base64: [Buffer.from(right, 'hex').toString('base64')],
            duplicate: [right, other],
            unicode: [Buffer.from(`${right.slice(0, 62)}é`, 'utf8')],
          };
          const headers: Array<[string, string | Buffer]> = [['Authorization', `Bearer ${CLIENT_TOKEN}`], ['Content-Length', String(n)]];
          for (const v of values[kind]) headers.push(['X-Content-SHA256', v]);
          const context = `PUT ${n} bytes with X-Content-SHA256 ${kind}`;
          const ex = await exchange([rawRequest('PUT', `/v1/files/${encodeKey(key)}`, headers, data)]);
          if (kind.startsWith('correct')) {
            expect(ex.responses[0]?.status).toBe(201);
            expect((await call('GET', `/v1/files/${encodeKey(key)}`)).body.equals(data)).toBe(true);
            expect((await call('DELETE', `/v1/files/${encodeKey(key)}`)).status).toBe(204);
          } else {
            expectRefused(ex, context, { mustAnswer: true, statuses: [400] });
            const code = (JSON.parse(ex.responses[0].body.toString('utf8')) as { code: string }).code;
            expect(code).toBe(kind === 'wrong-hex' ? 'CHECKSUM_MISMATCH' : 'BAD_REQUEST');
          }
          await afterCase(context, [key]);
        }),
        runs(30),
      );
    }, 60_000);
  });

  // ---------------------------------------------------------------------------------------------------------------
  describe('oversized and slow clients', () => {
    it('request heads over 16 KiB are refused with 431 (or a close), never a hang', async () => {
      const cases: Array<[string, Buffer]> = [
        ['one header just over the limit', rawRequest('GET', '/health/live', [['X-Big', 'a'.repeat(MAX_HEADER_BYTES + 1)]])],
        ['one 64 KiB header', rawRequest('GET', '/v1/files/x', [['X-Big', 'a'.repeat(64 * KiB)]])],
        ['many small headers', rawRequest('PUT', '/v1/files/x', Array.from({ length: 2000 }, (_, i): [string, string] => [`X-H-${i}`, 'v'.repeat(8)]))],
        ['a 20 KiB request target', rawRequest('GET', `/v1/files/${'p'.repeat(20 * KiB)}`)],
        ['a 1 MiB cookie', rawRequest('GET', '/health/live', [['Cookie', `c=${'z'.repeat(MiB)}`]])],
        ['a huge Authorization', rawRequest('GET', '/internal/entries', [['Authorization', `Bearer ${'t'.repeat(40 * KiB)}`]])],
        ['a huge header on the registry', rawRequest('POST', '/v1/nodes', [['X-Big', 'r'.repeat(32 * KiB)]], undefined, registry.port)],
      ];
      for (const [name, bytes] of cases) {
        const port = name.includes('registry') ? registry.port : node.port;
        const ex = await exchange([bytes], { port, untilClose: true });
        expectRefused(ex, name, { statuses: [431, 400] });
        if (!ex.closedByServer) throw new Error(`${name}: the server answered but kept the connection open`);
        await afterCase(name);
      }
    }, 60_000);

    it('trickled headers, trickled or stalled bodies and idle connections are cut within the bound; nothing is stored', async () => {
      const auth: [string, string] = ['Authorization', `Bearer ${CLIENT_TOKEN}`];
      const keys = Array.from({ length: 5 }, () => freshKey('slow'));
      /** Bounded trickle: at most `n` steps of `bytes`, every `everyMs`. */
      const trickle = (bytes: Buffer, n: number, everyMs: number): Step[] => Array.from({ length: n }, () => [{ pauseMs: everyMs }, bytes] as Step[]).flat();
      const big = bytesFrom(11, 2 * MiB);
      const formBoundary = 'SlowFormBoundary';
      const formHead = Buffer.from(`--${formBoundary}\r\nContent-Disposition: form-data; name="key"\r\n\r\n${keys[4]}\r\n--${formBoundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.bin"\r\n\r\n`);
      const scenarios: Array<[string, Step[]]> = [
        ['headers trickled a line every 500 ms', [Buffer.from(`PUT /v1/files/${keys[0]} HTTP/1.1\r\nHost: 127.0.0.1\r\n`), ...trickle(Buffer.from('X-Slow: 1\r\n'), 120, 500)]],
        ['a header value trickled a byte every 300 ms', [Buffer.from('GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: '), ...trickle(Buffer.from('a'), 200, 300)]],
        ['body trickled 16 bytes every 500 ms', [rawRequest('PUT', `/v1/files/${keys[1]}`, [auth, ['Content-Length', String(MiB)]]), ...trickle(Buffer.from('0123456789abcdef'), 120, 500)]],
        ['body stalled after 1.5 MiB of 2 MiB', [rawRequest('PUT', `/v1/files/${keys[2]}`, [auth, ['Content-Length', String(big.length)]]), big.subarray(0, MiB + 512 * KiB)]],
        ['chunked body stalled after 1.2 MiB', [rawRequest('PUT', `/v1/files/${keys[3]}`, [auth, ['Transfer-Encoding', 'chunked']]), Buffer.from(`${(big.length).toString(16)}\r\n`), big.subarray(0, MiB + 200 * KiB)]],
        ['form trickled after 1.1 MiB of its file', [rawRequest('POST', '/v1/files', [auth, ['Content-Type', `multipart/form-data; boundary=${formBoundary}`], ['Content-Length', String(3 * MiB)]]), formHead, big.subarray(0, MiB + 100 * KiB), ...trickle(Buffer.from('abcd'), 120, 400)]],
        ['a connection that sends nothing', []],
        ['an idle connection after a complete request', [Buffer.from(`GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)]],
      ];
      const started = Date.now();
      const results = await Promise.all(scenarios.map(([, steps]) => exchange(steps, { timeoutMs: SLOW_CLIENT_BOUND_MS + 5_000, untilClose: true })));
      for (const [i, [name]] of scenarios.entries()) {
        const ex = results[i];
        if (ex.timedOut || ex.ms > SLOW_CLIENT_BOUND_MS) throw new Error(`${name}: still open after ${ex.ms} ms (bound ${SLOW_CLIENT_BOUND_MS} ms)`);
        expectRefused(ex, name, { statuses: [400, 408, 413], success: (r) => name.startsWith('an idle connection') && r.status === 200 });
      }
      expect(Date.now() - started).toBeLessThan(SLOW_CLIENT_BOUND_MS + 5_000);
      await afterCase('slow clients', keys);
    }, 60_000);
  });

  // ---------------------------------------------------------------------------------------------------------------
  describe('tokens', () => {
    const routes: Array<{ method: string; path: string; json?: unknown; body?: () => Buffer; headers?: Array<[string, string]> }> = [
      { method: 'POST', path: '/internal/versions', json: { keys: ['hostile/canary'] } },
      { method: 'GET', path: '/internal/entries' },
      { method: 'GET', path: '/internal/entries?prefix=hostile/&limit=10' },
      { method: 'PUT', path: '/internal/entries', body: () => bytesFrom(3, MiB + 300 * KiB), headers: [['X-Shoal-Entry', Buffer.from(JSON.stringify({ key: 'hostile/internal', version: '01a2132b18f9.000000.x', sha256: '0'.repeat(64), size: 5, contentType: 'x/y', updatedAt: 0, deleted: false })).toString('base64url')]] },
      { method: 'POST', path: '/internal/tombstones', json: { key: 'hostile/canary', version: 'ffffffffffff.000000.x', sha256: '', size: 0, contentType: '', updatedAt: 0, deleted: true } },
      { method: 'POST', path: '/internal/sync/digests', json: { partitions: '', root: '0'.repeat(64) } },
      { method: 'GET', path: '/internal/sync/partitions/0' },
      { method: 'GET', path: `/internal/blobs/${'a'.repeat(64)}` },
      // Protocol 2's batches: a tombstone of the canary in an entry batch, a fence claim far in the future.
      { method: 'POST', path: '/internal/entries/batch', body: () => batchFrame([{ key: 'hostile/canary', version: 'ffffffffffff.000000.x', sha256: '', size: 0, contentType: '', updatedAt: 0, deleted: true }]), headers: [['Content-Type', 'application/octet-stream']] },
      { method: 'POST', path: '/internal/fence/batch', json: { claims: [{ key: 'hostile/canary', version: 'ffffffffffff.000000.x' }] } },
      // Protocol 3's write batch: both at once.
      { method: 'POST', path: '/internal/writes/batch', body: () => batchFrame([{ key: 'hostile/canary', version: 'ffffffffffff.000000.x', sha256: '', size: 0, contentType: '', updatedAt: 0, deleted: true }], [{ key: 'hostile/canary', version: 'ffffffffffff.000000.x' }]), headers: [['Content-Type', 'application/octet-stream']] },
    ];
    /** A batch as wire.ts frames it: a 4-byte length, the JSON manifest, then the bytes (none for tombstones). */
    function batchFrame(entries: unknown[], claims?: unknown[]): Buffer {
      const manifest = Buffer.from(JSON.stringify(claims ? { claims, entries } : { entries }));
      const head = Buffer.alloc(4);
      head.writeUInt32BE(manifest.length);
      return Buffer.concat([head, manifest]);
    }
    const auth = fc.oneof(
      fc.constant<string | undefined>(undefined),
      fc.constantFrom('Bearer', 'Bearer ', 'Bearer\t', 'Basic dXNlcjpwYXNz', 'bearer', 'Token abc', `Bearer ${CLIENT_TOKEN}`, `Bearer ${READ_TOKEN}`, `Bearer ${CLIENT_TOKEN},${CLIENT_TOKEN}`),
      fc.string({ minLength: 1, maxLength: 80 }).filter((s) => /^[\x21-\x7e]+$/.test(s)).map((t) => `Bearer ${t}`),
    );

    it('internal routes without, with a wrong, or with a client token are 401 problems; nothing changes', async () => {
      const clusterToken = cluster.token;
      const variants = fc.oneof(auth, fc.constantFrom(`Bearer ${clusterToken}x`, `Bearer ${clusterToken.slice(0, -1)}`, `Bearer ${clusterToken.toUpperCase()}`, `Basic ${Buffer.from(`x:${clusterToken}`).toString('base64')}`));
      await fc.assert(
        fc.asyncProperty(fc.nat({ max: routes.length - 1 }), variants, async (i, authorization) => {
          const route = routes[i];
          const body = route.json !== undefined ? Buffer.from(JSON.stringify(route.json)) : route.body?.();
          const headers: Array<[string, string]> = [...(route.headers ?? [])];
          if (authorization !== undefined) headers.push(['Authorization', authorization]);
          if (route.json !== undefined) headers.push(['Content-Type', 'application/json']);
          if (body) headers.push(['Content-Length', String(body.length)]);
          const context = `${route.method} ${route.path} with ${JSON.stringify(authorization)}`;
          const ex = await exchange([rawRequest(route.method, route.path, headers, body)]);
          expectRefused(ex, context, { statuses: [401], mustAnswer: !body || body.length < 64 * KiB });
          if (ex.responses[0]) expect((JSON.parse(ex.responses[0].body.toString('utf8')) as { code: string }).code).toBe('UNAUTHORIZED');
          await afterCase(context, ['hostile/internal']);
        }),
        runs(40),
      );
      // The canary the tombstone route aimed at is still live.
      expect((await call('HEAD', '/v1/files/hostile/canary')).status).toBe(200);
    }, 60_000);

    it('the client API refuses a missing or unknown token (401) and a read-only token writing (403), as problems', async () => {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom('PUT', 'DELETE', 'POST'), fc.oneof(auth, fc.constant(`Bearer ${READ_TOKEN}`)), async (method, authorization) => {
          const key = freshKey('auth');
          const target = method === 'POST' ? '/v1/files' : `/v1/files/${encodeKey(key)}`;
          const body = method === 'DELETE' ? undefined : bytesFrom(5, MiB + 64 * KiB);
          const headers: Array<[string, string]> = [];
          if (authorization !== undefined) headers.push(['Authorization', authorization]);
          if (body) headers.push(['Content-Length', String(body.length)], ['Content-Type', method === 'POST' ? 'multipart/form-data; boundary=zz' : 'application/octet-stream']);
          const context = `${method} ${target} with ${JSON.stringify(authorization)}`;
          const ex = await exchange([rawRequest(method, target, headers, body)]);
          const valid = authorization === `Bearer ${CLIENT_TOKEN}` || authorization === `Bearer ${CLIENT_TOKEN},${CLIENT_TOKEN}`;
          if (valid) {
            // the client token may write: a PUT stores (then is removed), a DELETE of nothing is 404, a bad form 400
            const r = ex.responses[0];
            if (method === 'PUT') {
              expect(r?.status).toBe(201);
              expect((await call('DELETE', target)).status).toBe(204);
            } else expectRefused(ex, context, { statuses: [400, 404] });
          } else {
            expectRefused(ex, context, { statuses: authorization === `Bearer ${READ_TOKEN}` ? [403] : [401] });
          }
          await afterCase(context, [key]);
        }),
        runs(24),
      );
    }, 60_000);

    it('registry writes without, with a wrong or with a client token are 401 problems; the membership is untouched', async () => {
      const before = await call('GET', '/v1/nodes', { port: registry.port, token: null });
      expect(before.status).toBe(200);
      const writes: Array<{ method: string; path: string; json?: unknown }> = [
        { method: 'POST', path: '/v1/nodes', json: { id: 'intruder-1', url: 'http://127.0.0.1:1', capacityBytes: 1, freeBytes: 1 } },
        { method: 'POST', path: '/v1/nodes', json: { id: nodeId, url: 'http://127.0.0.1:1', capacityBytes: 1, freeBytes: 1 } },
        { method: 'PUT', path: `/v1/nodes/${nodeId}/heartbeat`, json: { freeBytes: 1, files: 999999 } },
        { method: 'DELETE', path: `/v1/nodes/${nodeId}` },
        { method: 'DELETE', path: `/v1/nodes/${encodeURIComponent('../../x')}` },
      ];
      await fc.assert(
        fc.asyncProperty(fc.nat({ max: writes.length - 1 }), auth, async (i, authorization) => {
          const w = writes[i];
          const body = w.json !== undefined ? Buffer.from(JSON.stringify(w.json)) : undefined;
          const headers: Array<[string, string]> = [];
          if (authorization !== undefined) headers.push(['Authorization', authorization]);
          if (body) headers.push(['Content-Type', 'application/json'], ['Content-Length', String(body.length)]);
          const context = `registry ${w.method} ${w.path} with ${JSON.stringify(authorization)}`;
          const ex = await exchange([rawRequest(w.method, w.path, headers, body, registry.port)], { port: registry.port });
          expectRefused(ex, context, { statuses: [401], mustAnswer: true });
        }),
        runs(30),
      );
      const after = await call('GET', '/v1/nodes', { port: registry.port, token: null });
      const nodes = (JSON.parse(after.body.toString('utf8')) as { nodes: Array<{ id: string; url: string; status: string }> }).nodes;
      expect(nodes.map((n) => n.id)).toEqual([nodeId]);
      expect(nodes[0]).toMatchObject({ url: node.url, status: 'up' });
      // The registry still serves, and the node still has its membership.
      expect((await call('GET', '/health/live', { port: registry.port, token: null })).status).toBe(200);
      await pollUntil(async () => (await call('GET', '/health/ready', { token: null })).status === 200, { timeoutMs: 5_000 });
      await afterCase('registry');
    }, 60_000);
  });
});
