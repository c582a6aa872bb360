import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { ClientLoadService } from '../../common/metrics/client-load.service.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { parseQuery } from './auth/canonical.js';
import { SigV4Verifier } from './auth/sigv4.js';
import { BucketHandler } from './bucket.handler.js';
import { S3Error, toS3Error } from './s3-errors.js';
import { S3Router } from './s3-router.js';
import type { S3Response } from './s3-context.js';
import { toXml } from './xml.js';

/** Requests in flight get this long to finish at shutdown before their connections are cut. */
const DRAIN_MS = 10_000;
/** How long a Host's answer to "is this a bucket name?" is remembered (virtual-host style). */
const HOST_CACHE_MS = 10_000;

/**
 * The S3-compatible API (DESIGN §2) on its own port, inside the node process: a plain node:http server whose
 * handlers are providers of the node's container, so they share its coordinator, placement and metrics. Each request
 * is addressed (path or virtual-host style), authenticated (SigV4), routed to one endpoint, and answered; every error
 * is S3 XML.
 */
@Injectable()
export class S3ApiServer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(S3ApiServer.name);
  private server?: Server;
  private readonly verifier: SigV4Verifier;
  private readonly hostBuckets = new Map<string, { bucket: string | undefined; at: number }>();
  private readonly requests;
  private readonly duration;

  constructor(
    @Inject(APP_CONFIG) private readonly config: NodeConfig,
    private readonly router: S3Router,
    private readonly buckets: BucketHandler,
    metrics: MetricsService,
    private readonly load: ClientLoadService,
  ) {
    this.verifier = new SigV4Verifier(config.s3.region, config.s3.accessKeys, config.s3.readAccessKeys);
    this.requests = metrics.counter({ name: 'shoal_s3_requests_total', help: 'S3 API requests by operation and status', labelNames: ['operation', 'status'] });
    this.duration = metrics.histogram({
      name: 'shoal_s3_request_duration_seconds',
      help: 'S3 API request time by operation',
      labelNames: ['operation'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
    });
  }

  /** The port actually listened on (S3_PORT=0 picks a free one), or undefined when S3 is off. */
  get port(): number | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : undefined;
  }

  async onApplicationBootstrap(): Promise<void> {
    const port = this.config.s3.port;
    if (port === undefined) return;
    if (this.verifier.open) this.logger.warn('S3_ACCESS_KEYS is empty: the S3 API accepts unsigned requests from anyone');
    const server = createServer({ requestTimeout: 0, headersTimeout: 60_000 }, (req, res) => void this.handle(req, res));
    this.server = server;
    server.listen(port, this.config.host);
    await once(server, 'listening');
    this.logger.log({ port: this.port, region: this.config.s3.region }, 'S3 API listening');
  }

  async beforeApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const timer = setTimeout(() => server.closeAllConnections(), DRAIN_MS);
    await closed;
    clearTimeout(timer);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    // S3 clients are clients: scrub and sync yield to them as to /v1's (a large PutObject once ran beside a scrub).
    const done = this.load.track();
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    res.setHeader('x-amz-request-id', requestId);
    res.setHeader('server', 'Shoal');
    let operation = 'unknown';
    let bucket = '';
    let key = '';
    try {
      const rawUrl = req.url ?? '/';
      const qi = rawUrl.indexOf('?');
      const rawPath = qi >= 0 ? rawUrl.slice(0, qi) : rawUrl;
      const pairs = parseQuery(qi >= 0 ? rawUrl.slice(qi + 1) : '');
      // Signatures cover the path as sent, whatever the addressing style: authenticate before any lookup.
      const auth = this.verifier.authenticate({ method: req.method ?? 'GET', rawPath, query: pairs, headers: req.headers }, Date.now());
      ({ bucket, key } = await this.address(req, rawPath));
      const query = new Map(pairs.map((p) => [p.name, p.value]));
      const endpoint = this.router.route(req.method ?? 'GET', bucket, key, query, req.headers);
      operation = endpoint.name;
      if (endpoint.writes && !auth.canWrite) throw new S3Error('AccessDenied', 'Access Denied: this access key may only read');
      const out = await endpoint.run({ req, bucket, key, query, auth });
      await this.send(req, res, out);
    } catch (err) {
      this.sendError(req, res, err, bucket, key, requestId);
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.requests.inc({ operation, status: String(res.statusCode) });
      this.duration.observe({ operation }, seconds);
      this.logger.debug({ operation, bucket, status: res.statusCode, ms: Math.round(seconds * 1000), requestId }, 's3 request');
      done();
    }
  }

  /**
   * Path style (`/bucket/key`) unless the Host names a bucket: `<bucket>.localhost`, or a DNS name whose first labels
   * are an existing bucket (looked up, and remembered briefly).
   */
  private async address(req: IncomingMessage, rawPath: string): Promise<{ bucket: string; key: string }> {
    const host = String(req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
    const vhost = await this.bucketOfHost(host);
    const path = rawPath.startsWith('/') ? rawPath.slice(1) : rawPath;
    const decode = (s: string) => {
      try {
        return decodeURIComponent(s);
      } catch {
        throw new S3Error('InvalidArgument', 'the request path is not valid percent-encoded UTF-8');
      }
    };
    if (vhost !== undefined) return { bucket: vhost, key: decode(path) };
    const slash = path.indexOf('/');
    if (slash < 0) return { bucket: decode(path), key: '' };
    return { bucket: decode(path.slice(0, slash)), key: decode(path.slice(slash + 1)) };
  }

  private async bucketOfHost(host: string): Promise<string | undefined> {
    if (host === '' || host === 'localhost' || /^[\d.]+$/.test(host) || host.startsWith('[') || !host.includes('.')) return undefined;
    if (host.endsWith('.localhost')) return host.slice(0, -'.localhost'.length);
    const cached = this.hostBuckets.get(host);
    if (cached && Date.now() - cached.at < HOST_CACHE_MS) return cached.bucket;
    const labels = host.split('.');
    let bucket: string | undefined;
    // Longest first: a bucket may itself contain dots.
    for (let n = labels.length - 1; n >= 1 && bucket === undefined; n--) {
      const candidate = labels.slice(0, n).join('.');
      if (/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(candidate) && (await this.buckets.exists(candidate))) bucket = candidate;
    }
    if (this.hostBuckets.size > 1000) this.hostBuckets.clear();
    this.hostBuckets.set(host, { bucket, at: Date.now() });
    return bucket;
  }

  private async send(req: IncomingMessage, res: ServerResponse, out: S3Response): Promise<void> {
    if (out.stream) return out.stream(res);
    const headers = { ...(out.headers ?? {}) };
    const body = req.method === 'HEAD' || out.status === 304 || out.status === 204 ? undefined : out.body;
    if (typeof out.body === 'string' && !headers['content-length']) headers['content-length'] = String(Buffer.byteLength(out.body));
    if (out.body === undefined && !headers['content-length'] && out.status !== 204 && out.status !== 304) headers['content-length'] = '0';
    res.writeHead(out.status, headers);
    if (body === undefined) {
      if (out.body instanceof Readable) out.body.destroy();
      res.end();
      return;
    }
    if (typeof body === 'string') {
      res.end(body);
      return;
    }
    // A body that fails midway (a peer gone, a corrupt chunk) cuts the connection: the client sees a short body.
    await pipeline(body, res).catch((err: unknown) => {
      this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'S3 response stream failed');
      res.destroy();
    });
  }

  private sendError(req: IncomingMessage, res: ServerResponse, err: unknown, bucket: string, key: string, requestId: string): void {
    const e = toS3Error(err);
    if (!e) this.logger.error({ err }, 'S3 request failed unexpectedly');
    const s3 = e ?? new S3Error('InternalError', 'We encountered an internal error. Please try again.');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const resource = bucket ? `/${bucket}${key ? `/${key}` : ''}` : '/';
    const extra: Record<string, string> = { ...s3.extra };
    if (bucket && s3.code === 'NoSuchBucket') extra.BucketName ??= bucket;
    const body = toXml('Error', { Code: s3.code, Message: s3.message, ...extra, Resource: resource, RequestId: requestId }, false);
    const headers: Record<string, string> = { 'content-type': 'application/xml', ...s3.headers };
    // The client may still be sending a body we will not read: close rather than wait for it.
    if (!req.complete) headers.connection = 'close';
    if (s3.code === 'NotModified') {
      res.writeHead(304, s3.headers).end();
      return;
    }
    res.writeHead(s3.status, { ...headers, 'content-length': String(req.method === 'HEAD' ? 0 : Buffer.byteLength(body)) });
    res.end(req.method === 'HEAD' ? undefined : body);
    if (!req.complete) req.resume();
  }
}
