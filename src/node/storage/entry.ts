import { createHash } from 'node:crypto';
import type { Version } from './hlc.js';

/** What a node knows of one key: its newest version, live or a tombstone. */
export interface Entry {
  key: string;
  version: Version;
  /** hex SHA-256 of the content; empty for a tombstone */
  sha256: string;
  size: number;
  contentType: string;
  /** ms since epoch when the version was written */
  updatedAt: number;
  deleted: boolean;
  /**
   * Object metadata that travels and is stored with the version (S3: content-encoding, cache-control,
   * content-disposition, x-amz-meta-*, md5, etag). Set once when the version is written, never changed after, so the
   * version alone still identifies the entry in digests.
   */
  meta?: EntryMeta;
}

/** Lower-case names to string values; bounded by {@link checkEntryMeta}. */
export type EntryMeta = Record<string, string>;

/** At most this many bytes of names and values per entry (S3 allows 2 KiB of user metadata; the rest is ours). */
export const MAX_META_BYTES = 8 * 1024;

/** Validates metadata received from a peer or built from a request: string values, bounded size. */
export function checkEntryMeta(meta: unknown): EntryMeta | undefined {
  if (meta === undefined || meta === null) return undefined;
  if (typeof meta !== 'object' || Array.isArray(meta)) return undefined;
  const out: EntryMeta = {};
  let bytes = 0;
  for (const [k, v] of Object.entries(meta as Record<string, unknown>)) {
    if (typeof v !== 'string') return undefined;
    bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
    out[k] = v;
  }
  return bytes <= MAX_META_BYTES ? out : undefined;
}

export const EMPTY_SHA256 = createHash('sha256').digest('hex');

/** The hash that partition digests XOR together: equal entry sets ⇔ (with overwhelming probability) equal digests. */
export function entryHash(e: Pick<Entry, 'key' | 'version' | 'sha256' | 'deleted'>): Buffer {
  return createHash('sha256').update(`${e.key}\u0000${e.version}\u0000${e.sha256}\u0000${e.deleted ? 1 : 0}`).digest();
}

export function xorInto(target: Buffer, other: Buffer): void {
  for (let i = 0; i < target.length; i++) target[i] ^= other[i];
}

export function tombstone(key: string, version: Version, now: number): Entry {
  return { key, version, sha256: '', size: 0, contentType: '', updatedAt: now, deleted: true };
}
