import { createHash } from 'node:crypto';

/** A set of partitions as a bitmap (base64url): 1024 partitions fit in 128 bytes on the wire. */
export function encodePartitions(partitions: number[], count: number): string {
  const bits = Buffer.alloc(Math.ceil(count / 8));
  for (const p of partitions) bits[p >> 3] |= 1 << (p & 7);
  return bits.toString('base64url');
}

export function decodePartitions(encoded: string, count: number): number[] {
  const bits = Buffer.from(encoded, 'base64url');
  const out: number[] = [];
  for (let p = 0; p < count && p >> 3 < bits.length; p++) if (bits[p >> 3] & (1 << (p & 7))) out.push(p);
  return out;
}

/** One hash over the digests of a set of partitions: equal roots mean an idle round ends after one small request. */
export function rootOf(partitions: number[], digest: (p: number) => Buffer): string {
  const h = createHash('sha256');
  for (const p of partitions) h.update(digest(p));
  return h.digest('hex');
}
