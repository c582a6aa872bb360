import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ERROR_STATUS, ShoalError, type ShoalErrorCode } from './errors.js';
import { sendJson } from './http/reply.js';

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  [extra: string]: unknown;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  408: 'Request Timeout', 409: 'Conflict', 413: 'Content Too Large', 415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable', 431: 'Request Header Fields Too Large', 500: 'Internal Server Error',
  502: 'Bad Gateway', 503: 'Service Unavailable', 507: 'Insufficient Storage',
};

/** Codes for HttpExceptions that Nest or Express raise themselves (unknown route, body parser, validation). */
const CODE_BY_STATUS: Partial<Record<number, ShoalErrorCode>> = {
  400: 'BAD_REQUEST', 401: 'UNAUTHORIZED', 403: 'FORBIDDEN', 404: 'ROUTE_NOT_FOUND', 405: 'METHOD_NOT_ALLOWED',
  408: 'TIMEOUT', 413: 'PAYLOAD_TOO_LARGE', 415: 'UNSUPPORTED_MEDIA_TYPE', 431: 'HEADERS_TOO_LARGE',
};

export function problem(code: ShoalErrorCode, detail: string, extra: Record<string, unknown> = {}): ProblemDocument {
  const status = ERROR_STATUS[code];
  return {
    type: `https://shoal.dev/problems/${code.toLowerCase().replace(/_/g, '-')}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    code,
    ...extra,
  };
}

/** Turns any error into a problem document; unexpected ones are logged with their stack and answered as a bare 500. */
export function toProblem(err: unknown, logger?: Logger): { doc: ProblemDocument; headers: Record<string, string> } {
  if (err instanceof ShoalError) return { doc: problem(err.code, err.message, err.extra), headers: err.headers };
  if (err instanceof HttpException) {
    const status = err.getStatus();
    const body = err.getResponse();
    const message = typeof body === 'object' && body !== null ? (body as { message?: unknown }).message : body;
    const errors = Array.isArray(message) ? message : undefined;
    // @nestjs/terminus answers an unhealthy check with a 503 whose body carries `details` per indicator.
    const details = typeof body === 'object' && body !== null ? (body as { details?: unknown }).details : undefined;
    const code: ShoalErrorCode = errors ? 'VALIDATION_FAILED'
      : details ? 'NOT_READY'
      : (CODE_BY_STATUS[status] ?? (status >= 500 ? 'INTERNAL' : 'BAD_REQUEST'));
    const detail = errors ? 'the request did not pass validation' : details ? 'not ready' : String(message ?? err.message);
    const extra = errors ? { errors } : details ? { details } : {};
    const doc = { ...problem(code, detail, extra), status, title: TITLES[status] ?? 'Error' };
    return { doc, headers: {} };
  }
  // Errors from Express middleware (body parsers) carry a status of their own.
  const status = (err as { status?: unknown; statusCode?: unknown })?.status ?? (err as { statusCode?: unknown })?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = CODE_BY_STATUS[status] ?? 'BAD_REQUEST';
    return { doc: { ...problem(code, (err as Error).message), status, title: TITLES[status] ?? 'Error' }, headers: {} };
  }
  logger?.error({ err }, 'unexpected error');
  return { doc: problem('INTERNAL', 'an unexpected error occurred; it has been logged'), headers: {} };
}

/**
 * Writes the problem document with Node's own response (no Express helpers), so that it serves direct routes too:
 * the headers Express's `res.type(...).send(string)` gave (`; charset=utf-8`, Content-Length), no ETag.
 */
export function sendProblem(res: ServerResponse, doc: ProblemDocument, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    // Too late for a status: cut the stream so the client sees an incomplete body rather than bad bytes.
    res.destroy();
    return;
  }
  sendJson(res, doc.status, doc, headers, 'application/problem+json');
}

/** The one exception filter: every error of every role leaves as application/problem+json (RFC 9457). */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger(ProblemDetailsFilter.name);

  catch(err: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const req = ctx.getRequest<IncomingMessage & { originalUrl?: string }>();
    const res = ctx.getResponse<ServerResponse>();
    const url = req.originalUrl ?? req.url ?? '';
    // Express decodes route parameters itself: a malformed escape in a file key fails there, before our key check.
    // (Nest hands that on as a BadRequestException caused by the URIError.)
    const cause = err instanceof HttpException ? err.cause : err;
    const badKey = cause instanceof URIError && /^\/v1\/files\//.test(url);
    const { doc, headers } = badKey
      ? { doc: problem('INVALID_KEY', 'the key is not valid percent-encoded UTF-8'), headers: {} }
      : toProblem(err, this.logger);
    doc.instance = url.split('?')[0];
    if (doc.status === HttpStatus.INTERNAL_SERVER_ERROR) this.logger.warn({ path: doc.instance }, 'answered 500');
    sendProblem(res, doc, headers);
  }
}
