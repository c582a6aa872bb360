/**
 * Domain errors. Services throw these (never HttpException); the one {@link ProblemDetailsFilter} turns them into
 * application/problem+json with the stable `code` that clients rely on (DESIGN.md §2).
 */
export const ERROR_STATUS = {
  BAD_REQUEST: 400,
  VALIDATION_FAILED: 400,
  INVALID_KEY: 400,
  INVALID_RANGE: 400,
  INCOMPLETE_BODY: 400,
  MALFORMED_MULTIPART: 400,
  CHECKSUM_MISMATCH: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  NODE_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  PARTITION_BITS_MISMATCH: 409,
  NODE_HOLDS_DATA: 409,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  HEADERS_TOO_LARGE: 431,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RANGE_NOT_SATISFIABLE: 416,
  INTERNAL: 500,
  BAD_GATEWAY: 502,
  INSUFFICIENT_REPLICAS: 503,
  WRITE_CONFLICT: 503,
  CLOCK_SKEW: 503,
  NOT_READY: 503,
  NODE_LEFT: 503,
  TIMEOUT: 408,
  INSUFFICIENT_STORAGE: 507,
} as const satisfies Record<string, number>;

export type ShoalErrorCode = keyof typeof ERROR_STATUS;

export class ShoalError extends Error {
  constructor(
    readonly code: ShoalErrorCode,
    message: string,
    /** Extra members of the problem document (e.g. `errors`, `retryAfter`). */
    readonly extra: Record<string, unknown> = {},
    /** Extra response headers (e.g. `Retry-After`, `Content-Range`). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ShoalError';
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}


/** Maps an fs error at the I/O edge: a full disk is 507, everything else stays unexpected. */
export function fromIoError(err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new ShoalError('INSUFFICIENT_STORAGE', 'the node is out of disk space; nothing was stored');
  return err;
}
