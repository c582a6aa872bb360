import type { IncomingHttpHeaders } from 'node:http';
import type { Entry, EntryMeta } from '../storage/entry.js';
import { S3Error } from './s3-errors.js';

/** Headers stored with an object and given back on GET/HEAD (DESIGN §2 S3). */
const STORED_HEADERS = ['content-encoding', 'content-disposition', 'cache-control', 'content-language', 'expires'] as const;
/** S3's bound on user metadata (x-amz-meta-* names and values). */
const MAX_USER_META_BYTES = 2 * 1024;

/** Meta entries the S3 layer keeps for itself (not headers). */
export const META_MD5 = 'md5';
export const META_ETAG = 'etag';
/** part sizes of a multipart object, comma-separated: GET ?partNumber= needs the boundaries */
export const META_PARTS = 'parts';

export function metaFromHeaders(h: IncomingHttpHeaders): EntryMeta {
  const meta: EntryMeta = {};
  for (const name of STORED_HEADERS) {
    let v = h[name];
    if (typeof v !== 'string') continue;
    // aws-chunked is how the body travelled, not how the object is encoded.
    if (name === 'content-encoding') v = v.split(',').map((s) => s.trim()).filter((s) => s && s !== 'aws-chunked').join(', ');
    if (v) meta[name] = v;
  }
  let userBytes = 0;
  for (const [name, v] of Object.entries(h)) {
    if (!name.startsWith('x-amz-meta-') || v === undefined) continue;
    const value = Array.isArray(v) ? v.join(',') : v;
    userBytes += name.length - 'x-amz-meta-'.length + Buffer.byteLength(value);
    meta[name] = value;
  }
  if (userBytes > MAX_USER_META_BYTES) throw new S3Error('MetadataTooLarge', `Your metadata headers exceed the maximum allowed metadata size (${MAX_USER_META_BYTES} bytes).`);
  return meta;
}

/** The stored headers and user metadata of an entry (what COPY carries over). */
export function userVisibleMeta(e: Entry): EntryMeta {
  const out: EntryMeta = {};
  for (const [k, v] of Object.entries(e.meta ?? {})) if (k.startsWith('x-amz-meta-') || (STORED_HEADERS as readonly string[]).includes(k)) out[k] = v;
  return out;
}

/** The S3 ETag, unquoted: MD5 of a single PUT, md5-of-md5s-N of a multipart object; a /v1 file has only its SHA-256. */
export function etagOf(e: Entry): string {
  return e.meta?.[META_ETAG] ?? e.meta?.[META_MD5] ?? e.sha256;
}

export function objectHeaders(e: Entry): Record<string, string> {
  const out: Record<string, string> = {
    etag: `"${etagOf(e)}"`,
    'last-modified': new Date(e.updatedAt).toUTCString(),
    'content-type': e.contentType || 'binary/octet-stream',
    'accept-ranges': 'bytes',
  };
  for (const [k, v] of Object.entries(userVisibleMeta(e))) out[k] = v;
  const parts = e.meta?.[META_PARTS];
  if (parts) out['x-amz-mp-parts-count'] = String(parts.split(',').length);
  return out;
}

/** S3's rules for bucket names (the subset DESIGN §2 names): 3–63 of a–z 0–9 . -, starting and ending alphanumeric. */
export function checkBucketName(name: string): string {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) || name.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(name)) {
    throw new S3Error('InvalidBucketName', 'The specified bucket is not valid.', { BucketName: name });
  }
  return name;
}

/** S3 timestamps in XML: ISO 8601 with milliseconds. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}
