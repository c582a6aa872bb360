/**
 * A problem document (RFC 9457) as a Shoal server sends it with `application/problem+json` (DESIGN.md §2). The client
 * synthesises one when an answer carries none (HEAD, a proxy's HTML page, a network failure), so that callers always
 * get the same shape.
 */
export interface Problem {
  type?: string;
  title?: string;
  /** The HTTP status; 0 when no answer arrived at all (refused, reset, DNS, timeout). */
  status: number;
  detail: string;
  /** Stable machine-readable code: the server's, or one made up here from the status (`NETWORK_ERROR` for status 0). */
  code: string;
  instance?: string;
  [extra: string]: unknown;
}

/** What a Shoal call throws when it did not succeed: the problem document, and what the server said about it. */
export class ShoalClientError extends Error {
  constructor(
    readonly problem: Problem,
    options?: { cause?: unknown },
  ) {
    super(problem.detail, options);
    this.name = 'ShoalClientError';
  }

  get status(): number {
    return this.problem.status;
  }

  get code(): string {
    return this.problem.code;
  }

  get detail(): string {
    return this.problem.detail;
  }
}

/** Codes for answers that came without a problem document; the server's own codes are the same words. */
const CODE_BY_STATUS: Record<number, string> = {
  400: 'BAD_REQUEST', 401: 'UNAUTHORIZED', 403: 'FORBIDDEN', 404: 'NOT_FOUND', 409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE', 416: 'RANGE_NOT_SATISFIABLE', 500: 'INTERNAL', 502: 'BAD_GATEWAY',
  503: 'UNAVAILABLE', 504: 'GATEWAY_TIMEOUT', 507: 'INSUFFICIENT_STORAGE',
};

/**
 * The problem document of an error answer. `body` is what came back, parsed as JSON when it was JSON; `fallbackDetail`
 * is used when it holds no usable `detail` (e.g. `no live version of "a.txt"` for a HEAD, which has no body).
 */
export function problemFrom(status: number, statusText: string, body: unknown, fallbackDetail?: string): Problem {
  const code = CODE_BY_STATUS[status] ?? `HTTP_${status}`;
  const detail = fallbackDetail ?? (statusText ? statusText.toLowerCase() : `HTTP ${status}`);
  if (isRecord(body) && typeof body.detail === 'string') {
    return { ...body, status, code: typeof body.code === 'string' ? body.code : code, detail: body.detail };
  }
  // Not a problem document (a proxy's page, plain text): keep its first line, it usually says what went wrong.
  const text = typeof body === 'string' ? firstLine(body) : '';
  return { status, code, detail: text && !text.startsWith('<') ? text : detail };
}

/** The error for a call that got no answer: refused, reset, cut mid-stream, or an unreachable host. */
export function networkError(url: string | URL, err: unknown): ShoalClientError {
  if (err instanceof ShoalClientError) return err;
  const origin = new URL(url).origin;
  const reason = describeNetworkFailure(err);
  return new ShoalClientError({ status: 0, code: 'NETWORK_ERROR', detail: `cannot reach ${origin}: ${reason}` }, { cause: err });
}

function describeNetworkFailure(err: unknown): string {
  // fetch wraps the socket error: TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } }).
  const inner = err instanceof Error && err.cause !== undefined ? err.cause : err;
  const code = isRecord(inner) && typeof inner.code === 'string' ? inner.code : undefined;
  const message = inner instanceof Error ? inner.message : String(inner);
  return code && !message.includes(code) ? `${code} ${message}` : message;
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0].slice(0, 200);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
