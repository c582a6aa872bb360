import { createHash } from 'node:crypto';

/** partition = the top PARTITION_BITS bits of SHA-256(key) (DESIGN §3). */
export function partitionOf(key: string, bits: number): number {
  const h = createHash('sha256').update(key, 'utf8').digest();
  return h.readUInt32BE(0) >>> (32 - bits);
}
