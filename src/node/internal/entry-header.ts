import { ShoalError } from '../../common/errors.js';
import { checkEntryMeta, type Entry } from '../storage/entry.js';
import { VERSION_PATTERN } from '../storage/hlc.js';
import { MAX_STORED_KEY_BYTES, validateKey } from '../storage/keys.js';

/** An entry travels between nodes in the `X-Shoal-Entry` header (base64url JSON) so the body can be the raw blob. */
export const ENTRY_HEADER = 'x-shoal-entry';
/** Trailers that complete a streamed entry: the coordinator knows the hash and size only at the end of the body. */
export const SHA_TRAILER = 'x-shoal-sha256';
export const SIZE_TRAILER = 'x-shoal-size';

export function encodeEntry(e: Entry): string {
  return Buffer.from(JSON.stringify(e)).toString('base64url');
}

/**
 * A streamed entry arrives before its content is known: its `sha256` is empty and its `size` 0 until the trailers
 * (see PeerUpload) complete it.
 */
export function isPendingEntry(e: Entry): boolean {
  return !e.deleted && e.sha256 === '';
}

export function decodeEntry(raw: unknown): Entry {
  if (typeof raw !== 'string') throw new ShoalError('BAD_REQUEST', `missing ${ENTRY_HEADER} header`);
  let e: Entry;
  try {
    e = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Entry;
  } catch {
    throw new ShoalError('BAD_REQUEST', `malformed ${ENTRY_HEADER} header`);
  }
  return checkEntry(e);
}

/** Validates an entry received from a peer: never trust the wire. */
export function checkEntry(e: Entry): Entry {
  const ok =
    typeof e === 'object' && e !== null &&
    typeof e.version === 'string' && VERSION_PATTERN.test(e.version) &&
    typeof e.deleted === 'boolean' &&
    typeof e.size === 'number' && Number.isSafeInteger(e.size) && e.size >= 0 &&
    typeof e.updatedAt === 'number' &&
    typeof e.contentType === 'string' && e.contentType.length <= 1024 &&
    typeof e.sha256 === 'string' && (e.sha256 === '' || /^[0-9a-f]{64}$/.test(e.sha256)) && (e.deleted ? e.sha256 === '' : true);
  const meta = checkEntryMeta(e.meta);
  if (!ok || (e.meta !== undefined && e.meta !== null && meta === undefined)) throw new ShoalError('BAD_REQUEST', 'malformed entry');
  validateKey(e.key, MAX_STORED_KEY_BYTES);
  const out: Entry = { key: e.key, version: e.version, sha256: e.sha256, size: e.size, contentType: e.contentType, updatedAt: e.updatedAt, deleted: e.deleted };
  if (meta) out.meta = meta;
  return out;
}
