import type { HeaderObject } from '@nestjs/swagger';

/**
 * The response headers Shoal really sends, declared once so that every response that carries one says so in the
 * OpenAPI documents (generated clients only expose declared headers). The contract test checks live answers against
 * these: a header that is sent but not declared, or declared `required` but missing, fails it.
 */
export const INTEGER = { type: 'integer', format: 'int32' } as const;
/** Byte counts: a file may be larger than 2^31 bytes, so generators must pick a 64-bit type. */
export const INT64 = { type: 'integer', format: 'int64' } as const;

const header = (description: string, schema: HeaderObject['schema'], required = true): HeaderObject => ({ description, required, schema });

export const RESPONSE_HEADERS = {
  etag: header('`"<sha256>"`: the hex SHA-256 of the whole content, quoted (strong validator; pass it in If-None-Match)', { type: 'string', pattern: '^"[0-9a-f]{64}"$' }),
  lastModified: header('when this version was written (HTTP date)', { type: 'string' }),
  contentLength: header('bytes in the body (of the range, for 206)', { ...INT64, minimum: 0 }),
  contentType: header('the Content-Type stored with the file at upload', { type: 'string' }),
  acceptRanges: header('single byte ranges are served', { type: 'string', enum: ['bytes'] }),
  contentRange: header('`bytes <first>-<last>/<size>` of the range sent', { type: 'string', pattern: '^bytes \\d+-\\d+/\\d+$' }),
  unsatisfiedRange: header('`bytes */<size>`: the size of the file', { type: 'string', pattern: '^bytes \\*/\\d+$' }),
  shoalVersion: header('the hybrid-logical-clock version of the file that answered; newer versions sort higher', { type: 'string' }),
  retryAfter: header('seconds to wait before retrying', { ...INTEGER, minimum: 0 }),
  wwwAuthenticate: header('`Bearer`, with `error="invalid_token"` for an unknown token', { type: 'string' }),
  cacheControl: header('`no-store`: the page is always current', { type: 'string' }),
} satisfies Record<string, HeaderObject>;

export type ResponseHeaderName = keyof typeof RESPONSE_HEADERS;

const WIRE_NAMES: Record<ResponseHeaderName, string> = {
  etag: 'ETag', lastModified: 'Last-Modified', contentLength: 'Content-Length', contentType: 'Content-Type',
  acceptRanges: 'Accept-Ranges', contentRange: 'Content-Range', unsatisfiedRange: 'Content-Range', shoalVersion: 'X-Shoal-Version',
  retryAfter: 'Retry-After', wwwAuthenticate: 'WWW-Authenticate', cacheControl: 'Cache-Control',
};

/** `headers` of an `@ApiResponse`: `responseHeaders('etag', 'lastModified')`; `optional` ones may be absent. */
export function responseHeaders(names: ResponseHeaderName[], optional: ResponseHeaderName[] = []): Record<string, HeaderObject> {
  const out: Record<string, HeaderObject> = {};
  for (const name of names) out[WIRE_NAMES[name]] = RESPONSE_HEADERS[name];
  for (const name of optional) out[WIRE_NAMES[name]] = { ...RESPONSE_HEADERS[name], required: false };
  return out;
}
