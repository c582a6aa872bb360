import { ShoalError, type ShoalErrorCode } from '../../common/errors.js';

/** S3's error codes and their statuses (the AWS S3 API reference, "Error responses"): one Record maps them all. */
export const S3_ERROR_STATUS = {
  AccessDenied: 403,
  AuthorizationHeaderMalformed: 400,
  AuthorizationQueryParametersError: 400,
  BadDigest: 400,
  BucketAlreadyOwnedByYou: 409,
  BucketNotEmpty: 409,
  ConditionalRequestConflict: 409,
  EntityTooLarge: 400,
  EntityTooSmall: 400,
  IncompleteBody: 400,
  InternalError: 500,
  InvalidAccessKeyId: 403,
  InvalidArgument: 400,
  InvalidBucketName: 400,
  InvalidDigest: 400,
  InvalidPart: 400,
  InvalidPartOrder: 400,
  InvalidRange: 416,
  InvalidRequest: 400,
  InvalidStorageClass: 400,
  KeyTooLongError: 400,
  MalformedXML: 400,
  MetadataTooLarge: 400,
  MethodNotAllowed: 405,
  MissingContentLength: 411,
  MissingSecurityHeader: 400,
  NoSuchBucket: 404,
  NoSuchKey: 404,
  NoSuchUpload: 404,
  NotImplemented: 501,
  PreconditionFailed: 412,
  RequestTimeTooSkewed: 403,
  ServiceUnavailable: 503,
  SignatureDoesNotMatch: 403,
  SlowDown: 503,
  XAmzContentSHA256Mismatch: 400,
  NotModified: 304,
} as const satisfies Record<string, number>;

export type S3ErrorCode = keyof typeof S3_ERROR_STATUS;

/** An error answered as S3 XML: `<Error><Code>…</Code><Message>…</Message>…</Error>`. */
export class S3Error extends Error {
  constructor(
    readonly code: S3ErrorCode,
    message: string,
    /** extra elements of the error document (e.g. `Key`, `BucketName`) */
    readonly extra: Record<string, string> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'S3Error';
  }

  get status(): number {
    return S3_ERROR_STATUS[this.code];
  }
}

/** How the coordinator's and storage's errors read to an S3 client. Exhaustive: a new ShoalError code must be mapped. */
const FROM_SHOAL: Record<ShoalErrorCode, S3ErrorCode> = {
  BAD_REQUEST: 'InvalidRequest',
  VALIDATION_FAILED: 'InvalidArgument',
  INVALID_KEY: 'InvalidArgument',
  INVALID_RANGE: 'InvalidRange',
  INCOMPLETE_BODY: 'IncompleteBody',
  MALFORMED_MULTIPART: 'InvalidRequest',
  CHECKSUM_MISMATCH: 'XAmzContentSHA256Mismatch',
  UNAUTHORIZED: 'AccessDenied',
  FORBIDDEN: 'AccessDenied',
  NOT_FOUND: 'NoSuchKey',
  NODE_NOT_FOUND: 'InternalError',
  ROUTE_NOT_FOUND: 'InvalidRequest',
  METHOD_NOT_ALLOWED: 'MethodNotAllowed',
  PARTITION_BITS_MISMATCH: 'InternalError',
  CONFLICT: 'InternalError',
  PAYLOAD_TOO_LARGE: 'EntityTooLarge',
  HEADERS_TOO_LARGE: 'InvalidRequest',
  UNSUPPORTED_MEDIA_TYPE: 'InvalidRequest',
  RANGE_NOT_SATISFIABLE: 'InvalidRange',
  INTERNAL: 'InternalError',
  BAD_GATEWAY: 'SlowDown',
  INSUFFICIENT_REPLICAS: 'SlowDown',
  NOT_READY: 'ServiceUnavailable',
  TIMEOUT: 'SlowDown',
  INSUFFICIENT_STORAGE: 'ServiceUnavailable',
  NODE_HOLDS_DATA: 'InternalError',
  // Fencing gave up after its retries (a storm of concurrent writers): retryable, like a missed quorum.
  WRITE_CONFLICT: 'SlowDown',
  // This node's clock is off: it coordinates no writes until it is back; another node will take the request.
  CLOCK_SKEW: 'ServiceUnavailable',
  NODE_LEFT: 'ServiceUnavailable',
};

export function toS3Error(err: unknown): S3Error | undefined {
  if (err instanceof S3Error) return err;
  if (err instanceof ShoalError) {
    const headers: Record<string, string> = {};
    if (err.headers['Retry-After']) headers['retry-after'] = err.headers['Retry-After'];
    return new S3Error(FROM_SHOAL[err.code], err.message, {}, headers);
  }
  return undefined;
}
