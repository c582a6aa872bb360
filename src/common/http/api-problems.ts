import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import { ERROR_STATUS, type ShoalErrorCode } from '../errors.js';
import { problem } from '../problem-details.filter.js';
import { responseHeaders } from './api-headers.js';
import { ProblemDto } from './problem.dto.js';

/** The headers an error answer carries beside its problem document (from the ShoalError that raised it). */
function headersFor(status: number, codes: ShoalErrorCode[]) {
  if (status === 401) return responseHeaders(['wwwAuthenticate']);
  if (status === 416) return responseHeaders(['unsatisfiedRange']);
  // INSUFFICIENT_REPLICAS always says when to retry; terminus' NOT_READY (health) does not.
  if (status === 503) return codes.every((c) => c === 'INSUFFICIENT_REPLICAS') ? responseHeaders(['retryAfter']) : responseHeaders([], ['retryAfter']);
  return undefined;
}

/**
 * Documents error answers as what they are on the wire — `application/problem+json` with the {@link ProblemDto}
 * schema — one response per status, listing the stable codes it may carry, with an example each, and the headers
 * that come with it. `{ head: true }` for HEAD routes: the same statuses and headers, no body.
 */
export function ApiProblems(...args: Array<ShoalErrorCode | { head: true }>): MethodDecorator & ClassDecorator {
  const head = args.some((a) => typeof a === 'object');
  const codes = args.filter((a): a is ShoalErrorCode => typeof a === 'string');
  const byStatus = new Map<number, ShoalErrorCode[]>();
  for (const code of codes) byStatus.set(ERROR_STATUS[code], [...(byStatus.get(ERROR_STATUS[code]) ?? []), code]);
  return applyDecorators(
    ApiExtraModels(ProblemDto),
    ...[...byStatus.entries()].map(([status, list]) =>
      ApiResponse({
        status,
        description: head ? `${list.join(', ')} (no body: this is HEAD)` : `problem: ${list.join(', ')}`,
        headers: headersFor(status, list),
        ...(head ? {} : {
          content: {
            'application/problem+json': {
              schema: { $ref: getSchemaPath(ProblemDto) },
              examples: Object.fromEntries(list.map((code) => [code, { summary: code, value: problem(code, EXAMPLE_DETAIL[code] ?? code.toLowerCase().replace(/_/g, ' ')) }])),
            },
          },
        }),
      }),
    ),
  );
}

const EXAMPLE_DETAIL: Partial<Record<ShoalErrorCode, string>> = {
  INVALID_KEY: 'the key must not contain control characters',
  CHECKSUM_MISMATCH: 'the body hashes to 5891…, not to the declared 0000…; nothing was stored',
  INCOMPLETE_BODY: 'received 10 of the 100 bytes declared by Content-Length; nothing was stored',
  UNAUTHORIZED: 'send a bearer token (Authorization: Bearer <token>)',
  FORBIDDEN: 'this token may only read',
  NOT_FOUND: 'no live version of "a.txt"',
  PAYLOAD_TOO_LARGE: 'the upload is 2000000 bytes; MAX_OBJECT_BYTES is 1000000',
  RANGE_NOT_SATISFIABLE: 'range bytes=10- is outside the 6 bytes of the file',
  INSUFFICIENT_REPLICAS: 'only 1 of the 3 owners of this key are up; 2 are needed; nothing was written',
  INSUFFICIENT_STORAGE: 'the node is out of disk space; nothing was stored',
  CLOCK_SKEW: 'this node\'s clock is off by 3600000 ms by every registry (MAX_CLOCK_SKEW_MS exceeded); it coordinates no writes until its clock is fixed — send the write to another node',
  WRITE_CONFLICT: 'concurrent writes of "a.txt" kept overtaking this one; nothing was written',
  NODE_NOT_FOUND: 'node node-1 is not registered here; register again',
  PARTITION_BITS_MISMATCH: 'node node-4 has PARTITION_BITS=12 but the cluster uses 10',
  NOT_READY: 'not ready',
  NODE_HOLDS_DATA: 'node node-2 is up and may hold the only copies of some files; decommission it first',
  NODE_LEFT: 'this node has left the cluster (decommissioned): it takes no writes; send them to another node',
};
