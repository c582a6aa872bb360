import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { S3Error } from '../s3-errors.js';
import type { QueryPair } from './canonical.js';

/** Sub-resources that are part of a SigV2 string to sign (the AWS "RESTAuthentication" list). */
const SUB_RESOURCES = new Set([
  'acl', 'delete', 'lifecycle', 'location', 'logging', 'notification', 'partNumber', 'policy', 'requestPayment', 'torrent',
  'uploadId', 'uploads', 'versionId', 'versioning', 'versions', 'website', 'cors', 'tagging', 'restore',
  'response-content-type', 'response-content-language', 'response-expires', 'response-cache-control', 'response-content-disposition', 'response-content-encoding',
]);

/**
 * AWS Signature Version 2 — only because `aws s3 presign` (CLI v1) and older tools still sign that way by default:
 * `Authorization: AWS id:sig` or `?AWSAccessKeyId=&Expires=&Signature=`. HMAC-SHA1 over method, Content-MD5,
 * Content-Type, date (or Expires), the x-amz-* headers and the resource.
 */
export function stringToSignV2(method: string, rawPath: string, query: QueryPair[], headers: IncomingHttpHeaders, expires?: string): string {
  const amz = Object.entries(headers)
    .filter(([k]) => k.startsWith('x-amz-'))
    .map(([k, v]) => `${k}:${(Array.isArray(v) ? v.join(',') : (v ?? '')).trim()}`)
    .sort()
    .map((l) => `${l}\n`)
    .join('');
  // With x-amz-date (header form) the Date line is empty: the date is signed among the x-amz-* headers.
  const date = expires ?? (headers['x-amz-date'] !== undefined ? '' : String(headers.date ?? ''));
  const sub = query
    .filter((p) => SUB_RESOURCES.has(p.name))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((p) => (p.value === '' ? p.name : `${p.name}=${p.value}`))
    .join('&');
  return `${method}\n${String(headers['content-md5'] ?? '')}\n${String(headers['content-type'] ?? '')}\n${date}\n${amz}${rawPath}${sub ? `?${sub}` : ''}`;
}

export function signV2(secret: string, toSign: string): string {
  return createHmac('sha1', secret).update(toSign, 'utf8').digest('base64');
}

/**
 * V2 signs `/bucket/key` even for virtual-host requests, and the bucket is not known before authentication: the
 * path as sent, or with each leading part of a DNS Host name in front of it.
 */
export function v2Resources(rawPath: string, host: string | undefined): string[] {
  const name = String(host ?? '').replace(/:\d+$/, '').toLowerCase();
  const out = [rawPath];
  if (name && !/^[\d.]+$/.test(name) && !name.startsWith('[')) {
    const labels = name.split('.');
    for (let n = 1; n < labels.length; n++) out.push(`/${labels.slice(0, n).join('.')}${rawPath}`);
  }
  return out;
}

export function checkV2(secret: string, toSign: string[], given: string): void {
  const b = Buffer.from(given);
  for (const candidate of toSign) {
    const a = Buffer.from(signV2(secret, candidate));
    if (a.length === b.length && timingSafeEqual(a, b)) return;
  }
  throw new S3Error('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.');
}
