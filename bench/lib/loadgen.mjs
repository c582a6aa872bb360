// Small-file load generator: N requests at concurrency C over a keep-alive http.Agent, per-request latency.
import http from 'node:http';
import crypto from 'node:crypto';
import { LOOPBACK, percentile } from './util.mjs';

/** N distinct bodies of `size` bytes (random, with the index stamped in front so no two are equal). */
export function makeBodies(count, size) {
  const base = crypto.randomBytes(size);
  return Array.from({ length: count }, (_, i) => {
    const b = Buffer.from(base);
    b.writeUInt32BE(i, 0);
    crypto.randomFillSync(b, 4, Math.min(28, size - 4));
    return b;
  });
}

function oneRequest(agent, url, method, body, timeoutMs, extraHeaders = {}) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const headers = { ...extraHeaders };
    if (body) {
      headers['content-type'] = 'application/octet-stream';
      headers['content-length'] = body.length;
    }
    const req = http.request(url, { method, agent, headers, timeout: timeoutMs }, (res) => {
      let bytes = 0;
      res.on('data', (c) => {
        bytes += c.length;
      });
      res.on('end', () => {
        resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, status: res.statusCode, bytes });
      });
      res.on('error', (err) => resolve({ ms: NaN, status: 0, bytes, error: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ ms: NaN, status: 0, bytes: 0, error: err.message }));
    req.end(body);
  });
}

/**
 * Run `count` requests at `concurrency`.
 *   urlFor(i) -> URL string (must be 127.0.0.1); bodyFor(i) -> Buffer | undefined
 *   ok(res, i) -> boolean  (status / length check)
 * Bounded: every request has timeoutMs, and the whole run stops issuing new requests after deadlineMs.
 */
export async function runLoad({ method, count, concurrency = 16, urlFor, bodyFor = () => undefined, headersFor = () => ({}), ok, timeoutMs = 30000, deadlineMs = 300000 }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
  const lat = [];
  let errors = 0;
  let firstError = null;
  let next = 0;
  const started = process.hrtime.bigint();
  const stopAt = Date.now() + deadlineMs;
  const worker = async () => {
    while (next < count && Date.now() < stopAt) {
      const i = next++;
      const url = urlFor(i);
      if (new URL(url).hostname !== LOOPBACK) throw new Error(`refusing non-loopback URL ${url}`);
      const res = await oneRequest(agent, url, method, bodyFor(i), timeoutMs, headersFor(i, url));
      if (!res.error && ok(res, i)) {
        lat.push(res.ms);
      } else {
        errors++;
        firstError ??= res.error ?? `HTTP ${res.status} (${res.bytes} bytes) for ${method} ${url}`;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  agent.destroy();
  lat.sort((a, b) => a - b);
  const done = lat.length + errors;
  return {
    method,
    requested: count,
    done,
    okCount: lat.length,
    errors,
    firstError,
    truncated: done < count,
    seconds: +seconds.toFixed(3),
    reqPerSec: +(lat.length / seconds).toFixed(0),
    p50ms: +percentile(lat, 50).toFixed(2),
    p99ms: +percentile(lat, 99).toFixed(2),
    maxMs: lat.length ? +lat[lat.length - 1].toFixed(2) : NaN,
  };
}
