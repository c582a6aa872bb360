import { Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { MetricsService } from './metrics.service.js';

/**
 * Catch-all middleware is mounted as a route as well (nestjs-pino's `{/*splat}`, this one's `*path`), so the
 * `req.route` of a request that no handler matched is that wildcard: only a handler's own path is a route template.
 */
const CATCH_ALL = /^(\{?\/)?\*/;

/**
 * Observes every request by its route template (not the raw URL, which would explode cardinality with keys): its
 * duration, and the bytes of its body and of the answer (what an idle sync round costs is read from these).
 */
@Injectable()
export class HttpMetricsMiddleware implements NestMiddleware {
  constructor(private readonly metrics: MetricsService) {}

  use(req: Request, res: Response, next: NextFunction): void {
    const end = this.metrics.httpDuration.startTimer({ method: req.method });
    let sent = 0;
    const write = res.write.bind(res) as (...args: unknown[]) => boolean;
    const endRes = res.end.bind(res) as (...args: unknown[]) => Response;
    const count = (chunk: unknown) => {
      if (typeof chunk === 'string') sent += Buffer.byteLength(chunk);
      else if (chunk instanceof Uint8Array) sent += chunk.length;
    };
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      count(chunk);
      return write(chunk, ...rest);
    }) as Response['write'];
    res.end = ((chunk?: unknown, ...rest: unknown[]) => {
      if (typeof chunk !== 'function') count(chunk);
      return endRes(chunk, ...rest);
    }) as Response['end'];
    res.once('close', () => {
      const routePath = (req.route as { path?: string } | undefined)?.path;
      const route = routePath && !CATCH_ALL.test(routePath) ? `${req.baseUrl}${routePath}` : 'unmatched';
      end({ route, status: String(res.statusCode) });
      const received = Number(req.headers['content-length'] ?? 0) || 0;
      this.metrics.httpBytes.inc({ route, direction: 'in' }, received);
      this.metrics.httpBytes.inc({ route, direction: 'out' }, sent);
    });
    next();
  }
}
