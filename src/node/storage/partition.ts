import { hash } from 'node:crypto';

/**
 * Recent answers: one request asks for its key's partition three or four times (placement, fencing, the local commit),
 * and a SHA-256 costs more than a map lookup. Bounded; emptied when full or when asked with other bits (specs).
 */
const recent = new Map<string, number>();
const RECENT_MAX = 1024;
let recentBits = -1;

/** partition = the top PARTITION_BITS bits of SHA-256(key) (DESIGN §3). */
export function partitionOf(key: string, bits: number): number {
  if (bits !== recentBits) {
    recent.clear();
    recentBits = bits;
  }
  let p = recent.get(key);
  if (p === undefined) {
    p = hash('sha256', key, 'buffer').readUInt32BE(0) >>> (32 - bits);
    if (recent.size >= RECENT_MAX) recent.clear();
    recent.set(key, p);
  }
  return p;
}
