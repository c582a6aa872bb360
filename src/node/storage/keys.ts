import { ShoalError } from '../../common/errors.js';

export const MAX_KEY_BYTES = 1024;
/**
 * Entries may have longer keys than clients of /v1 may name: an S3 object `(bucket, key)` is stored as `bucket/key`,
 * and S3 keys alone may be 1024 bytes (bucket names at most 63).
 */
export const MAX_STORED_KEY_BYTES = MAX_KEY_BYTES + 64;
/**
 * Keys under this prefix hold the S3 API's own records (buckets, uploads in progress, their parts). They replicate
 * and sync like any file, but /v1 neither lists nor serves them. No bucket name can start with '.', so no object
 * `bucket/key` falls under it.
 */
export const RESERVED_PREFIX = '.shoal-s3/';

export function isReservedKey(key: string): boolean {
  return key.startsWith(RESERVED_PREFIX);
}
// C0, DEL and C1 control characters.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * A key is any valid UTF-8 string of 1–1024 bytes without control characters (DESIGN §2). `..`, `a//b` and leading
 * slashes are ordinary keys: a key is never turned into a filesystem path (blobs are named by their SHA-256).
 */
export function validateKey(key: unknown, maxBytes = MAX_KEY_BYTES): string {
  if (typeof key !== 'string' || key.length === 0) throw new ShoalError('INVALID_KEY', 'the key must not be empty');
  if (!key.isWellFormed()) throw new ShoalError('INVALID_KEY', 'the key is not valid UTF-8');
  if (CONTROL.test(key)) throw new ShoalError('INVALID_KEY', 'the key must not contain control characters');
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > maxBytes) throw new ShoalError('INVALID_KEY', `the key is ${bytes} bytes; at most ${maxBytes} are allowed`);
  return key;
}

/**
 * The key from a request path after `/v1/files/`: percent-decoded exactly once, so `a%2Fb` and `a/b` name the same
 * key and a malformed escape is a 400, not a 500.
 */
export function keyFromPath(rawPath: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    throw new ShoalError('INVALID_KEY', 'the key is not valid percent-encoded UTF-8');
  }
  validateKey(decoded);
  if (isReservedKey(decoded)) throw new ShoalError('INVALID_KEY', `keys under "${RESERVED_PREFIX}" are reserved for the S3 API's records`);
  return decoded;
}

/**
 * The order keys are stored and listed in: UTF-8 bytes, i.e. code points — what LMDB's key encoding sorts by. Not JS
 * `<`, which compares UTF-16 code units and puts U+E000–U+FFFF after astral characters (emoji): mixing the two orders
 * makes a cursor skip keys. Surrogate units are moved above U+E000–U+FFFF, which turns code-unit into code-point order.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit < 0xe000 ? unit + 0x2000 : unit - 0x800;
}
