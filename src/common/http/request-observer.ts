import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger as PinoInstance } from 'pino';
import type { ClientLoadService } from '../metrics/client-load.service.js';
import type { MetricsService } from '../metrics/metrics.service.js';

/** Paths polled by probes and scrapers: logged at debug so they do not drown the request log. */
const QUIET = /^\/(health\/|metrics)/;
/** Presigned S3 URLs carry their signature in the query: never written to a log. */
const SECRET_QUERY = /([?&](?:X-Amz-Signature|X-Amz-Credential|Signature|AWSAccessKeyId)=)[^&]*/gi;

/** Request ids: the caller's `X-Request-Id`, else this process's random prefix and a counter (no UUID per request). */
const ID_PREFIX = randomBytes(4).toString('hex');
let sequence = 0;

type RoutedRequest = IncomingMessage & { route?: { path?: unknown }; baseUrl?: string };

/**
 * `req.route` is that of the handler that answered (set by Express's router, or by a direct route as Express would);
 * a request no handler matched counts as `unmatched`.
 */
function routeOf(req: RoutedRequest): string {
  const path = req.route?.path;
  if (typeof path !== 'string') return 'unmatched';
  return req.baseUrl ? `${req.baseUrl}${path}` : path;
}

/**
 * One observer per request, started before any routing (the HTTP adapter's front door): when the response is done (or the connection is cut),
 * it records the duration and byte metrics by route template, counts it out of the requests in flight, and writes the request's one log line — errors and
 * aborted requests always, 4xx at info, successes only when debug is on. It wraps nothing: bytes out are what the
 * socket wrote for this response (its head excluded), so no closure is added to each `res.write`.
 */
export function requestObserver(logger: PinoInstance, metrics: MetricsService, load: ClientLoadService): (req: IncomingMessage, res: ServerResponse) => void {
  const stats = metrics.http;
  return (req: RoutedRequest, res) => {
    const started = performance.now();
    const url = req.url ?? '/'; // as received: Express rewrites req.url while routing
    const done = load.begin(url);
    const socket = req.socket;
    const writtenBefore = socket.bytesWritten;
    const seq = (sequence = (sequence + 1) % Number.MAX_SAFE_INTEGER);
    res.once('close', () => {
      done?.();
      const seconds = (performance.now() - started) / 1000;
      const route = routeOf(req);
      const status = res.statusCode;
      const head = (res as ServerResponse & { _header?: string | null })._header;
      const out = socket.bytesWritten - writtenBefore - (head ? Buffer.byteLength(head) : 0);
      stats.record(req.method ?? '', route, status, seconds, Number(req.headers['content-length'] ?? 0) || 0, out > 0 ? out : 0);
      const aborted = !res.writableFinished;
      const level = aborted || status >= 500 ? 'error' : status >= 400 && !QUIET.test(url) ? 'info' : 'debug';
      if (!logger.isLevelEnabled(level)) return;
      logger[level](
        {
          req: { id: (req.headers['x-request-id'] as string | undefined) ?? `${ID_PREFIX}-${seq}`, method: req.method, url: url.replace(SECRET_QUERY, '$1[redacted]'), remoteAddress: socket.remoteAddress, contentLength: req.headers['content-length'], userAgent: req.headers['user-agent'] },
          res: { statusCode: status },
          responseTime: Math.round(seconds * 1000),
        },
        aborted ? 'request aborted' : status >= 500 ? 'request errored' : 'request completed',
      );
    });
  };
}
