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
