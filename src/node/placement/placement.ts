import { createHash } from 'node:crypto';

/** Enough of a member for placement: placement is a pure function of ids and zones. */
export interface Placeable {
  id: string;
  /** Failure domain (ZONE); nodes without one form the zone "". */
  zone?: string;
}

/** The rendezvous (highest-random-weight) score of a node for a partition: the first 8 bytes of SHA-256. */
export function weight(partition: number, nodeId: string): bigint {
  return createHash('sha256').update(`${partition}\u0000${nodeId}`).digest().readBigUInt64BE(0);
}

/**
 * The N owners of a partition among the owning members (DESIGN §3 Placement). Members are ranked by rendezvous weight;
 * the owners are taken down that ranking in rounds: the first round takes at most one node per zone, the next at most
 * two, and so on. So with at least N zones the N owners are in N distinct zones (losing a zone loses at most one copy),
 * with fewer they are spread as evenly as the zones allow, and with a single zone (or none set) this is plain
 * rendezvous hashing: the top N of the ranking. Every node computes the same owners from the same membership, and a
 * join or leave moves only the partitions where that node enters or leaves the choice — about 1/n of them.
 */
export function ownersOf<T extends Placeable>(partition: number, members: readonly T[], n: number): T[] {
  const ranked = members
    .map((m) => ({ m, w: weight(partition, m.id) }))
    .sort((a, b) => (a.w === b.w ? (a.m.id < b.m.id ? -1 : 1) : a.w > b.w ? -1 : 1))
    .map((x) => x.m);
  const want = Math.min(n, ranked.length);
  const owners: T[] = [];
  const taken = new Set<T>();
  const perZone = new Map<string, number>();
  for (let cap = 1; owners.length < want; cap++) {
    for (const m of ranked) {
      if (owners.length === want) break;
      const zone = m.zone ?? '';
      if (taken.has(m) || (perZone.get(zone) ?? 0) >= cap) continue;
      taken.add(m);
      perZone.set(zone, (perZone.get(zone) ?? 0) + 1);
      owners.push(m);
    }
  }
  return owners;
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
