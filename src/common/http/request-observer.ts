import { randomBytes } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
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

type Labelled<T> = { labels(labels: Record<string, string>): T };

/**
 * prom-client resolves a label set to its child on every observe; under small-file load that lookup and its label
 * object are measurable. Children are kept here by their label values instead (route templates and status codes
 * are few, so this stays small).
 */
function childCache<T>(metric: Labelled<T>, names: readonly string[]): (...values: string[]) => T {
  const cache = new Map<string, T>();
  return (...values) => {
    const key = values.join('\u0000');
    let child = cache.get(key);
    if (child === undefined) {
      child = metric.labels(Object.fromEntries(names.map((n, i) => [n, values[i]])));
      cache.set(key, child);
    }
    return child;
  };
}

/** `req.route` is that of the handler that answered; a request no handler matched counts as `unmatched`. */
function routeOf(req: Request): string {
  const path = (req.route as { path?: string } | undefined)?.path;
  return typeof path === 'string' ? `${req.baseUrl}${path}` : 'unmatched';
}

/**
 * One observer per request, attached before any router layer: when the response is done (or the connection is cut),
 * it records the duration and byte metrics by route template, counts it out of the requests in flight, and writes the request's one log line — errors and
 * aborted requests always, 4xx at info, successes only when debug is on. It wraps nothing: bytes out are what the
 * socket wrote for this response (its head excluded), so no closure is added to each `res.write`.
 */
export function requestObserver(logger: PinoInstance, metrics: MetricsService, load: ClientLoadService): (req: Request, res: Response, next: NextFunction) => void {
  const duration = childCache(metrics.httpDuration, ['method', 'route', 'status']);
  const bytes = childCache(metrics.httpBytes, ['route', 'direction']);
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    const done = load.begin(req.url);
    const socket = req.socket;
    const writtenBefore = socket.bytesWritten;
    const id = (req.headers['x-request-id'] as string | undefined) ?? `${ID_PREFIX}-${(sequence = (sequence + 1) % Number.MAX_SAFE_INTEGER)}`;
    res.once('close', () => {
      done?.();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = routeOf(req);
      const status = res.statusCode;
      duration(req.method, route, String(status)).observe(seconds);
      const head = (res as Response & { _header?: string | null })._header;
      const out = socket.bytesWritten - writtenBefore - (head ? Buffer.byteLength(head) : 0);
      bytes(route, 'in').inc(Number(req.headers['content-length'] ?? 0) || 0);
      if (out > 0) bytes(route, 'out').inc(out);
      const aborted = !res.writableFinished;
      const level = aborted || status >= 500 ? 'error' : status >= 400 && !QUIET.test(req.url) ? 'info' : 'debug';
      if (!logger.isLevelEnabled(level)) return;
      logger[level](
        {
          req: { id, method: req.method, url: req.originalUrl.replace(SECRET_QUERY, '$1[redacted]'), remoteAddress: socket.remoteAddress, contentLength: req.headers['content-length'], userAgent: req.headers['user-agent'] },
          res: { statusCode: status },
          responseTime: Math.round(seconds * 1000),
        },
        aborted ? 'request aborted' : status >= 500 ? 'request errored' : 'request completed',
      );
    });
    next();
  };
}
