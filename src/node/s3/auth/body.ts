import type { IncomingMessage } from 'node:http';
import { createHash } from 'node:crypto';
import { S3Error } from '../s3-errors.js';
import { decodeAwsChunked } from './aws-chunked.js';
import { BodyChecks } from './checksums.js';
import type { Authenticated } from './sigv4.js';

/** A request body as the handlers see it: decoded from aws-chunked if need be, with its checks to run before commit. */
export interface RequestBody {
  stream: AsyncIterable<Buffer>;
  checks: BodyChecks;
  /** bytes of content announced (Content-Length, or x-amz-decoded-content-length for aws-chunked) */
  declaredLength?: number;
  /** the signed hex SHA-256 of the payload, verified by staging */
  expectedSha256?: string;
}

export function requestBody(req: IncomingMessage, auth: Authenticated): RequestBody {
  const trailers = new Map<string, string>();
  const checks = new BodyChecks(req.headers, trailers);
  const chunked = auth.payload.kind === 'signed-chunks' || auth.payload.kind === 'unsigned-trailer' || String(req.headers['content-encoding'] ?? '').includes('aws-chunked');
  const lengthHeader = chunked ? req.headers['x-amz-decoded-content-length'] : req.headers['content-length'];
  let declaredLength: number | undefined;
  if (typeof lengthHeader === 'string') {
    if (!/^\d+$/.test(lengthHeader)) throw new S3Error('InvalidArgument', 'the content length must be a non-negative integer');
    declaredLength = Number(lengthHeader);
  } else if (chunked) {
    throw new S3Error('MissingContentLength', 'an aws-chunked body needs x-amz-decoded-content-length');
  }
  const source: AsyncIterable<Buffer> = chunked
    ? decodeAwsChunked(req, { chain: auth.chain, trailers, signedTrailer: auth.payload.kind === 'signed-chunks' && auth.payload.trailer })
    : req;
  return {
    stream: checks.tap(source),
    checks,
    declaredLength,
    expectedSha256: auth.payload.kind === 'sha256' ? auth.payload.hex : undefined,
  };
}

/** A small XML request body read whole (bounded) and verified like any other. */
export async function readSmallBody(body: RequestBody, maxBytes = 2 * 1024 * 1024): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of body.stream) {
    size += chunk.length;
    if (size > maxBytes) throw new S3Error('MalformedXML', `the request document is larger than ${maxBytes} bytes`);
    parts.push(chunk);
  }
  const all = Buffer.concat(parts);
  if (body.declaredLength !== undefined && all.length !== body.declaredLength) throw new S3Error('IncompleteBody', 'You did not provide the number of bytes specified by the Content-Length HTTP header.');
  if (body.expectedSha256 !== undefined && createHash('sha256').update(all).digest('hex') !== body.expectedSha256) {
    throw new S3Error('XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.");
  }
  body.checks.verify();
  return all.toString('utf8');
}
