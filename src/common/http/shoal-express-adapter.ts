import http from 'node:http';
import type { Socket } from 'node:net';
import type { NestApplicationOptions } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import type express from 'express';
import type { ShoalErrorCode } from '../errors.js';
import { problem } from '../problem-details.filter.js';

/**
 * Limits of the HTTP server against slow and oversized clients: internal constants, not configuration. A client that
 * trickles its request head, stalls or trickles its body, or connects and sends nothing is cut within about
 * `HEADERS_TIMEOUT_MS` (+ one check interval) or `BODY_WINDOW_MS` (+ one tick) — well under 30 s.
 */
export const HTTP_LIMITS = {
  /** The request line and headers must have arrived this long after the request (or connection) started: else 408. */
  HEADERS_TIMEOUT_MS: 10_000,
  /** How often Node checks that deadline (its default, 30 s, would let a slow head linger up to 40 s). */
  CONNECTIONS_CHECKING_INTERVAL_MS: 1_000,
  /** Request line + headers larger than this are answered 431 (Node's default, stated so that it is not lost). */
  MAX_HEADER_BYTES: 16 * 1024,
  /**
   * A request body must bring at least BODY_MIN_BYTES per BODY_WINDOW_MS while the server waits for it, else it is cut.
   * The window matches the idle timeout of a node's own uploads to its peers (peer-client.service.ts), so a pipelined
   * leg is not cut by the receiving owner sooner than by the sending coordinator.
   */
  BODY_WINDOW_MS: 15_000,
  BODY_MIN_BYTES: 1024,
  BODY_TICK_MS: 1_000,
} as const;

/** Answers for what Node's HTTP parser refuses before any route sees it, as problem documents like every other error. */
const CLIENT_ERROR_CODES: Record<string, ShoalErrorCode> = {
  HPE_HEADER_OVERFLOW: 'HEADERS_TOO_LARGE',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 'PAYLOAD_TOO_LARGE',
  ERR_HTTP_REQUEST_TIMEOUT: 'TIMEOUT',
};

/**
 * The server's 'clientError' (unparseable request, head too large, head too slow): a problem+json answer when nothing
 * has been answered on the connection yet, then the connection is closed — as Node does by default, but in our format.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  const inFlight = (socket as Socket & { _httpMessage?: http.ServerResponse })._httpMessage;
  if (err.code !== 'ECONNRESET' && socket.writable && !inFlight?.headersSent) {
    const code = CLIENT_ERROR_CODES[err.code ?? ''] ?? 'BAD_REQUEST';
    const detail = code === 'TIMEOUT' ? 'the request took too long to arrive' : code === 'HEADERS_TOO_LARGE' ? `the request head exceeds ${HTTP_LIMITS.MAX_HEADER_BYTES} bytes` : `malformed HTTP request (${err.code ?? err.message})`;
    const doc = problem(code, detail);
    const body = JSON.stringify(doc);
    socket.write(`HTTP/1.1 ${doc.status} ${doc.title}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}

/**
 * Cuts a request whose body stalls or trickles: every BODY_WINDOW_MS in which the server was waiting for the body
 * (nothing buffered unread) and fewer than BODY_MIN_BYTES arrived. Time the server itself spends not reading (a slow
 * disk or peer applying backpressure) does not count against the client. Node's requestTimeout alone would allow 5 min.
 */
function watchBody(req: http.IncomingMessage): void {
  const length = req.headers['content-length'];
  if (req.complete || (req.headers['transfer-encoding'] === undefined && (length === undefined || length === '0'))) return;
  const socket = req.socket;
  let windowStart = Date.now();
  let windowBytes = socket.bytesRead;
  const timer = setInterval(() => {
    if (req.complete || socket.destroyed) {
      clearInterval(timer);
      return;
    }
    const now = Date.now();
    if (req.readableLength > 0 || socket.bytesRead - windowBytes >= HTTP_LIMITS.BODY_MIN_BYTES) {
      windowStart = now; // the server is behind, or the client keeps up: a new window starts
      windowBytes = socket.bytesRead;
    } else if (now - windowStart >= HTTP_LIMITS.BODY_WINDOW_MS) {
      clearInterval(timer);
      socket.destroy(); // the upload fails as cut off: its temp file is removed, nothing is stored
    }
  }, HTTP_LIMITS.BODY_TICK_MS).unref();
  req.once('close', () => clearInterval(timer));
}

/** Sees each request first; calls `express(req, res)` for those it does not answer itself. */
export type FrontDoor = (req: http.IncomingMessage, res: http.ServerResponse, express: (req: http.IncomingMessage, res: http.ServerResponse) => void) => void;

/**
 * Express on an http.Server created with Shoal's limits: Nest's adapter calls createServer without options, and the
 * connection-checking interval can only be set there. (createApp passes no httpsOptions, return503OnClosing or
 * forceCloseConnections, which the base class would handle.)
 */
export class ShoalExpressAdapter extends ExpressAdapter {
  override initHttpServer(_options: NestApplicationOptions): void {
    const app = this.getInstance<express.Express>();
    const server = http.createServer(
      {
        headersTimeout: HTTP_LIMITS.HEADERS_TIMEOUT_MS,
        // No total deadline: a multi-GiB upload may take long. Slow or stalled bodies are cut by watchBody instead.
        requestTimeout: 0,
        connectionsCheckingInterval: HTTP_LIMITS.CONNECTIONS_CHECKING_INTERVAL_MS,
        maxHeaderSize: HTTP_LIMITS.MAX_HEADER_BYTES,
      },
      (req, res) => {
        // Once shutting down, every answer ends its connection, so keep-alive clients (peers) let go.
        if (this.draining) res.setHeader('connection', 'close');
        watchBody(req);
        if (this.front) this.front(req, res, app);
        else app(req, res);
      },
    );
    server.on('clientError', answerClientError);
    this.setHttpServer(server);
  }

  private draining = false;
  private front?: FrontDoor;

  /** What every request meets before Express (createApp: the request observer, then the direct routes). */
  setFrontDoor(front: FrontDoor): void {
    this.front = front;
  }

  /**
   * Graceful close: requests in flight finish, but connections kept alive between requests are closed as soon as they
   * fall idle — not only the ones idle at the moment close() is called — so that busy peers cannot hold the process.
   */
  override close(): Promise<unknown> {
    this.draining = true;
    const server = this.getHttpServer() as http.Server | undefined;
    const sweep = server ? setInterval(() => server.closeIdleConnections(), 100) : undefined;
    return Promise.resolve(super.close()).finally(() => clearInterval(sweep));
  }
}
