import { createHash } from 'node:crypto';

/** Enough of a member for placement: placement is a pure function of ids. */
export interface Placeable {
  id: string;
}

/** The rendezvous (highest-random-weight) score of a node for a partition: the first 8 bytes of SHA-256. */
export function weight(partition: number, nodeId: string): bigint {
  return createHash('sha256').update(`${partition}\u0000${nodeId}`).digest().readBigUInt64BE(0);
}

/**
 * The N owners of a partition among the non-dead members, highest weight first. Every node computes the same owners
 * from the same membership, and adding or removing a node moves only the partitions where it enters or leaves the
 * top N — about 1/n of them (DESIGN §3).
 */
export function ownersOf<T extends Placeable>(partition: number, members: readonly T[], n: number): T[] {
  return members
    .map((m) => ({ m, w: weight(partition, m.id) }))
    .sort((a, b) => (a.w === b.w ? (a.m.id < b.m.id ? -1 : 1) : a.w > b.w ? -1 : 1))
    .slice(0, n)
    .map((x) => x.m);
}

export interface Quorums {
  n: number;
  w: number;
  r: number;
}

/** With fewer non-dead nodes than N, the effective N is their number, and W and R are capped at it (DESIGN §1). */
export function effectiveQuorums(configured: Quorums, liveNodes: number): Quorums {
  const n = Math.max(1, Math.min(configured.n, liveNodes));
  return { n, w: Math.min(configured.w, n), r: Math.min(configured.r, n) };
}
