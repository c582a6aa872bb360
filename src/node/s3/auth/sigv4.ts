import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { S3AccessKey } from '../../../config/app-config.js';
import { S3Error } from '../s3-errors.js';
import { canonicalQuery, canonicalUri, rawCanonicalUri, type QueryPair } from './canonical.js';
import { checkV2, stringToSignV2, v2Resources } from './sigv2.js';

/** Requests further than this from the node's clock are refused (S3's own bound). */
export const MAX_SKEW_MS = 15 * 60 * 1000;
const ALGORITHM = 'AWS4-HMAC-SHA256';
export const EMPTY_HASH = createHash('sha256').digest('hex');

/** How the body of an authenticated request is to be checked. */
export type PayloadMode =
  | { kind: 'unsigned' }
  | { kind: 'sha256'; hex: string }
  /** aws-chunked: every chunk signed, chained from the seed signature; optionally a signed trailer */
  | { kind: 'signed-chunks'; trailer: boolean }
  /** aws-chunked without chunk signatures; x-amz-checksum-* trailers */
  | { kind: 'unsigned-trailer' };

export interface Credentials {
  accessKeyId: string;
  canWrite: boolean;
}

export interface Authenticated extends Credentials {
  payload: PayloadMode;
  /** for signed aws-chunked bodies: what each chunk signature is computed with */
  chain?: ChunkChain;
}

export interface ChunkChain {
  signingKey: Buffer;
  amzDate: string;
  scope: string;
  seedSignature: string;
}

export interface SignedRequest {
  method: string;
  /** the path exactly as sent, still percent-encoded */
  rawPath: string;
  query: QueryPair[];
  headers: IncomingHttpHeaders;
}

interface KeyInfo {
  secret: string;
  canWrite: boolean;
}

/**
 * AWS Signature Version 4 for S3 (header and presigned-query forms), written on node:crypto: no maintained
 * server-side verifier fits. The canonical request is rebuilt from what was received and the signature compared in
 * constant time.
 */
export class SigV4Verifier {
  private readonly keys = new Map<string, KeyInfo>();

  constructor(
    private readonly region: string,
    readWrite: S3AccessKey[],
    readOnly: S3AccessKey[],
  ) {
    for (const k of readOnly) this.keys.set(k.accessKeyId, { secret: k.secret, canWrite: false });
    for (const k of readWrite) this.keys.set(k.accessKeyId, { secret: k.secret, canWrite: true });
  }

  /** No key configured: the S3 API is open, like the client API without API_TOKENS. */
  get open(): boolean {
    return this.keys.size === 0;
  }

  authenticate(req: SignedRequest, now: number): Authenticated {
    const authz = header(req.headers, 'authorization');
    const algorithm = req.query.find((p) => p.name === 'X-Amz-Algorithm')?.value;
    if (authz?.startsWith('AWS ')) return this.fromV2Header(req, authz.slice(4), now);
    if (authz !== undefined) return this.fromHeader(req, authz, now);
    if (algorithm !== undefined) return this.fromQuery(req, algorithm, now);
    if (req.query.some((p) => p.name === 'AWSAccessKeyId')) return this.fromV2Query(req, now);
    if (this.open) return { accessKeyId: '', canWrite: true, payload: payloadMode(header(req.headers, 'x-amz-content-sha256')) };
    throw new S3Error('AccessDenied', 'Access Denied: the request is not signed');
  }

  private fromHeader(req: SignedRequest, authz: string, now: number): Authenticated {
    if (!authz.startsWith(`${ALGORITHM} `)) {
      throw new S3Error('InvalidRequest', `only ${ALGORITHM} (Signature Version 4) is supported`);
    }
    const fields = new Map<string, string>();
    for (const part of authz.slice(ALGORITHM.length + 1).split(',')) {
      const eq = part.indexOf('=');
      if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
    }
    const credential = fields.get('Credential');
    const signedHeaders = fields.get('SignedHeaders');
    const signature = fields.get('Signature');
    if (!credential || !signedHeaders || !signature) throw new S3Error('AuthorizationHeaderMalformed', 'the Authorization header lacks Credential, SignedHeaders or Signature');
    const amzDate = header(req.headers, 'x-amz-date') ?? amzDateOf(header(req.headers, 'date'));
    if (!amzDate) throw new S3Error('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
    const time = parseAmzDate(amzDate);
    if (Math.abs(now - time) > MAX_SKEW_MS) {
      throw new S3Error('RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.', { RequestTime: amzDate, ServerTime: new Date(now).toISOString(), MaxAllowedSkewMilliseconds: String(MAX_SKEW_MS) });
    }
    const scope = this.checkScope(credential, amzDate, 'AuthorizationHeaderMalformed');
    const key = this.keyOf(scope.accessKeyId);
    const payloadHash = header(req.headers, 'x-amz-content-sha256') ?? 'UNSIGNED-PAYLOAD';
    const signingKey = deriveSigningKey(key.secret, scope.date, this.region);
    this.verify(req, signedHeaders.split(';'), payloadHash, amzDate, scope.scope, signingKey, signature, false);
    const payload = payloadMode(payloadHash);
    const out: Authenticated = { accessKeyId: scope.accessKeyId, canWrite: key.canWrite, payload };
    if (payload.kind === 'signed-chunks') out.chain = { signingKey, amzDate, scope: scope.scope, seedSignature: signature };
    return out;
  }

  private fromQuery(req: SignedRequest, algorithm: string, now: number): Authenticated {
    const q = (name: string) => req.query.find((p) => p.name === name)?.value;
    if (algorithm !== ALGORITHM) throw new S3Error('AuthorizationQueryParametersError', `X-Amz-Algorithm must be ${ALGORITHM}`);
    const credential = q('X-Amz-Credential');
    const amzDate = q('X-Amz-Date');
    const expires = q('X-Amz-Expires');
    const signedHeaders = q('X-Amz-SignedHeaders');
    const signature = q('X-Amz-Signature');
    if (!credential || !amzDate || !expires || !signedHeaders || !signature) {
      throw new S3Error('AuthorizationQueryParametersError', 'a presigned URL needs X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature');
    }
    if (!/^\d+$/.test(expires) || Number(expires) > 604800) throw new S3Error('AuthorizationQueryParametersError', 'X-Amz-Expires must be a number of seconds up to 604800');
    const time = parseAmzDate(amzDate);
    if (time - now > MAX_SKEW_MS) throw new S3Error('RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.');
    if (now > time + Number(expires) * 1000) throw new S3Error('AccessDenied', 'Request has expired', { Expires: new Date(time + Number(expires) * 1000).toISOString(), ServerTime: new Date(now).toISOString() });
    const scope = this.checkScope(credential, amzDate, 'AuthorizationQueryParametersError');
    const key = this.keyOf(scope.accessKeyId);
    const signingKey = deriveSigningKey(key.secret, scope.date, this.region);
    const payloadHash = q('X-Amz-Content-Sha256') ?? 'UNSIGNED-PAYLOAD';
    this.verify(req, signedHeaders.split(';'), payloadHash, amzDate, scope.scope, signingKey, signature, true);
    return { accessKeyId: scope.accessKeyId, canWrite: key.canWrite, payload: payloadMode(header(req.headers, 'x-amz-content-sha256') ?? 'UNSIGNED-PAYLOAD') };
  }

  /** Signature V2 in the header (`AWS id:signature`): older tools' default. */
  private fromV2Header(req: SignedRequest, credential: string, now: number): Authenticated {
    const colon = credential.lastIndexOf(':');
    if (colon <= 0) throw new S3Error('AccessDenied', 'malformed AWS (V2) Authorization header');
    const when = header(req.headers, 'x-amz-date') ?? header(req.headers, 'date');
    const time = when === undefined ? NaN : Date.parse(when);
    if (Number.isNaN(time)) throw new S3Error('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
    if (Math.abs(now - time) > MAX_SKEW_MS) throw new S3Error('RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.');
    const key = this.keyOf(credential.slice(0, colon));
    const candidates = v2Resources(req.rawPath, header(req.headers, 'host')).map((path) => stringToSignV2(req.method, path, req.query, req.headers));
    checkV2(key.secret, candidates, credential.slice(colon + 1));
    return { accessKeyId: credential.slice(0, colon), canWrite: key.canWrite, payload: payloadMode(header(req.headers, 'x-amz-content-sha256')) };
  }

  /** A V2 presigned URL (`?AWSAccessKeyId=&Expires=&Signature=`), what `aws s3 presign` makes by default. */
  private fromV2Query(req: SignedRequest, now: number): Authenticated {
    const q = (name: string) => req.query.find((p) => p.name === name)?.value;
    const id = q('AWSAccessKeyId');
    const expires = q('Expires');
    const signature = q('Signature');
    if (!id || !expires || !signature || !/^\d+$/.test(expires)) throw new S3Error('AccessDenied', 'a V2 presigned URL needs AWSAccessKeyId, Expires and Signature');
    if (now > Number(expires) * 1000) throw new S3Error('AccessDenied', 'Request has expired', { Expires: new Date(Number(expires) * 1000).toISOString(), ServerTime: new Date(now).toISOString() });
    const key = this.keyOf(id);
    const candidates = v2Resources(req.rawPath, header(req.headers, 'host')).map((path) => stringToSignV2(req.method, path, req.query, req.headers, expires));
    checkV2(key.secret, candidates, signature);
    return { accessKeyId: id, canWrite: key.canWrite, payload: { kind: 'unsigned' } };
  }

  private checkScope(credential: string, amzDate: string, malformed: 'AuthorizationHeaderMalformed' | 'AuthorizationQueryParametersError') {
    const parts = credential.split('/');
    if (parts.length !== 5 || parts[4] !== 'aws4_request' || parts[3] !== 's3') throw new S3Error(malformed, `malformed credential "${credential}"`);
    const [accessKeyId, date, region] = parts;
    if (date !== amzDate.slice(0, 8)) throw new S3Error(malformed, `the credential date ${date} is not the request date ${amzDate.slice(0, 8)}`);
    if (region !== this.region) throw new S3Error(malformed, `the authorization header is malformed; the region '${region}' is wrong; expecting '${this.region}'`, { Region: this.region });
    return { accessKeyId, date, scope: parts.slice(1).join('/') };
  }

  private keyOf(accessKeyId: string): KeyInfo {
    const key = this.keys.get(accessKeyId);
    if (!key) throw new S3Error('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', { AWSAccessKeyId: accessKeyId });
    return key;
  }

  private verify(req: SignedRequest, signed: string[], payloadHash: string, amzDate: string, scope: string, signingKey: Buffer, signature: string, presigned: boolean): void {
    if (!signed.includes('host')) throw new S3Error('AccessDenied', 'the host header must be signed');
    const query = canonicalQuery(req.query, presigned ? 'X-Amz-Signature' : undefined);
    const headers = signed.map((name) => `${name}:${canonicalHeaderValue(req.headers[name])}\n`).join('');
    // Clients encode paths alike except for a few characters; accept the canonical form and the path as sent.
    const uris = [...new Set([canonicalUri(req.rawPath), rawCanonicalUri(req.rawPath)])];
    for (const uri of uris) {
      const canonical = [req.method, uri, query, headers, signed.join(';'), payloadHash].join('\n');
      const toSign = [ALGORITHM, amzDate, scope, sha256Hex(canonical)].join('\n');
      if (safeEqualHex(hmac(signingKey, toSign).toString('hex'), signature)) return;
    }
    throw new S3Error('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.');
  }
}

export function payloadMode(hash: string | undefined): PayloadMode {
  switch (hash) {
    case undefined:
    case 'UNSIGNED-PAYLOAD':
      return { kind: 'unsigned' };
    case 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD':
      return { kind: 'signed-chunks', trailer: false };
    case 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER':
      return { kind: 'signed-chunks', trailer: true };
    case 'STREAMING-UNSIGNED-PAYLOAD-TRAILER':
      return { kind: 'unsigned-trailer' };
    default:
      if (/^[0-9a-fA-F]{64}$/.test(hash)) return { kind: 'sha256', hex: hash.toLowerCase() };
      throw new S3Error('InvalidArgument', `x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING-* mode or 64 hex digits`);
  }
}

export function deriveSigningKey(secret: string, date: string, region: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), 's3'), 'aws4_request');
}

export function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Constant time over equal lengths; a length mismatch is a mismatch (and says nothing about the secret). */
export function safeEqualHex(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(given.toLowerCase(), 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function canonicalHeaderValue(v: string | string[] | undefined): string {
  const raw = Array.isArray(v) ? v.join(',') : (v ?? '');
  return raw.trim().replace(/\s+/g, ' ');
}

/** `20130524T000000Z` → ms since epoch; anything else is AccessDenied (S3's answer to an unparseable date). */
export function parseAmzDate(s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) throw new S3Error('AccessDenied', `x-amz-date "${s}" is not of the form YYYYMMDDTHHMMSSZ`);
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
}

function amzDateOf(httpDate: string | undefined): string | undefined {
  if (!httpDate) return undefined;
  const t = Date.parse(httpDate);
  if (Number.isNaN(t)) return undefined;
  return new Date(t).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}
