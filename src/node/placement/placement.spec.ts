import { effectiveQuorums, leavingHolders, ownersOf } from './placement.js';
import { partitionOf } from '../storage/partition.js';

const nodes = (k: number) => Array.from({ length: k }, (_, i) => ({ id: `node-${i + 1}` }));
const PARTITIONS = 1024;

function table(members: { id: string }[], n: number): string[][] {
  return Array.from({ length: PARTITIONS }, (_, p) => ownersOf(p, members, n).map((m) => m.id));
}

describe('placement', () => {
  it('is the same whatever order the members are listed in', () => {
    const a = nodes(7);
    const b = [...a].reverse();
    expect(table(a, 3)).toEqual(table(b, 3));
  });

  it('picks N distinct owners, or every node when there are fewer', () => {
    for (const owners of table(nodes(5), 3)) expect(new Set(owners).size).toBe(3);
    expect(ownersOf(1, nodes(2), 3)).toHaveLength(2);
  });

  it('adding an 11th node to 10 moves about 1/11 of the ownership, all of it to the new node', () => {
    const before = table(nodes(10), 3);
    const after = table(nodes(11), 3);
    let moved = 0;
    for (let p = 0; p < PARTITIONS; p++) {
      const gained = after[p].filter((id) => !before[p].includes(id));
      const lost = before[p].filter((id) => !after[p].includes(id));
      expect(gained.every((id) => id === 'node-11')).toBe(true);
      expect(lost.length).toBe(gained.length);
      moved += gained.length;
    }
    const share = moved / (PARTITIONS * 3);
    // Ideal is 1/11 ≈ 0.0909 of the replica slots; allow sampling noise.
    expect(share).toBeGreaterThan(0.07);
    expect(share).toBeLessThan(0.115);
  });

  it('removing a node moves only the partitions it owned', () => {
    const before = table(nodes(6), 3);
    const after = table(nodes(6).filter((m) => m.id !== 'node-4'), 3);
    for (let p = 0; p < PARTITIONS; p++) {
      if (!before[p].includes('node-4')) expect(after[p]).toEqual(before[p]);
      else expect(after[p].filter((id) => before[p].includes(id))).toHaveLength(2);
    }
  });

  it('spreads partitions evenly', () => {
    const counts = new Map<string, number>();
    for (const owners of table(nodes(4), 2)) for (const id of owners) counts.set(id, (counts.get(id) ?? 0) + 1);
    for (const c of counts.values()) expect(Math.abs(c - 512) / 512).toBeLessThan(0.15);
  });

  describe('with zones', () => {
    /** `count` nodes per zone, ids `z-<zone>-<i>`; zone "" means ZONE unset. */
    const zoned = (zones: string[], count: number) =>
      zones.flatMap((zone) => Array.from({ length: count }, (_, i) => ({ id: `z-${zone || 'none'}-${i + 1}`, ...(zone ? { zone } : {}) })));
    const zoneOf = (members: { id: string; zone?: string }[]) => new Map(members.map((m) => [m.id, m.zone ?? '']));
    const zonesOf = (owners: string[], members: { id: string; zone?: string }[]) => owners.map((id) => zoneOf(members).get(id) ?? '?');

    it.each([
      // zones, nodes per zone, N, largest number of copies one zone may hold
      [['a', 'b', 'c'], 2, 3, 1],
      [['a', 'b', 'c', 'd'], 2, 3, 1],
      [['a', 'b', 'c', 'd', 'e'], 3, 3, 1],
      [['a', 'b'], 3, 3, 2], // fewer zones than N: 2 + 1
      [['a', 'b'], 2, 4, 2], // 2 + 2
      [['a', 'b', 'c'], 3, 5, 2], // 2 + 2 + 1
      [['a'], 4, 3, 3], // one zone: plain rendezvous
      [[''], 4, 3, 3],
    ])('zones %j × %d nodes, N=%d: no zone holds more than %d copies of a partition', (zones, perZone, n, max) => {
      const members = zoned(zones, perZone);
      for (const owners of table(members, n)) {
        expect(new Set(owners).size).toBe(Math.min(n, members.length));
        const counts = new Map<string, number>();
        for (const z of zonesOf(owners, members)) counts.set(z, (counts.get(z) ?? 0) + 1);
        expect(Math.max(...counts.values())).toBeLessThanOrEqual(max);
        // Every zone holds a copy when there are at most N of them; N distinct zones hold one each otherwise.
        expect(counts.size).toBe(Math.min(n, zones.length));
      }
    });

    it.each([
      [['a', 'b', 'c'], 2, 3],
      [['a', 'b', 'c'], 1, 3],
      [['a', 'b', 'c', 'd'], 2, 3],
      [['a', 'b', 'c'], 3, 2],
    ])('zones %j × %d nodes, N=%d: losing any one zone keeps at least N−1 copies of every partition', (zones, perZone, n) => {
      const members = zoned(zones, perZone);
      const t = table(members, n);
      for (const lost of zones) {
        for (const owners of t) expect(zonesOf(owners, members).filter((z) => z !== lost).length).toBeGreaterThanOrEqual(n - 1);
      }
    });

    it('nodes without a zone form one zone "", apart from the named ones', () => {
      const members = [...zoned([''], 2), ...zoned(['a'], 2), ...zoned(['b'], 2)];
      for (const owners of table(members, 3)) expect(new Set(zonesOf(owners, members)).size).toBe(3);
    });

    it('is the same whatever order the members are listed in', () => {
      const members = zoned(['a', 'b', 'c'], 3);
      expect(table([...members].reverse(), 3)).toEqual(table(members, 3));
    });

    it.each([
      [['a', 'b', 'c'], 3],
      [['a', 'b', 'c', 'd'], 3],
      [['a', 'b'], 4],
    ])('zones %j × %d nodes: a join moves about 1/n of the replica slots, a leave only what the node owned', (zones, perZone) => {
      const members = zoned(zones, perZone);
      const joined = [...members, { id: 'z-a-new', zone: 'a' }];
      const before = table(members, 3);
      const after = table(joined, 3);
      let moved = 0;
      for (let p = 0; p < PARTITIONS; p++) {
        const gained = after[p].filter((id) => !before[p].includes(id));
        moved += gained.length;
        // The leave (back from `joined` to `members`) touches only partitions the new node owned.
        if (!after[p].includes('z-a-new')) expect(before[p]).toEqual(after[p]);
      }
      const share = moved / (PARTITIONS * 3);
      const ideal = 1 / joined.length;
      expect(share).toBeGreaterThan(ideal * 0.6);
      expect(share).toBeLessThan(ideal * 1.6);
    });

    it('with at least N zones, a join only moves slots to the new node', () => {
      const members = zoned(['a', 'b', 'c', 'd'], 2);
      const before = table(members, 3);
      const after = table([...members, { id: 'z-b-new', zone: 'b' }], 3);
      for (let p = 0; p < PARTITIONS; p++) expect(after[p].filter((id) => !before[p].includes(id)).every((id) => id === 'z-b-new')).toBe(true);
    });
  });

  it('a leaving node is a holder exactly of the partitions it owned before its decommission', () => {
    const all = nodes(4);
    const leaving = all.filter((m) => m.id === 'node-4');
    const owning = all.filter((m) => m.id !== 'node-4');
    for (let p = 0; p < PARTITIONS; p++) {
      const before = ownersOf(p, all, 3).map((m) => m.id);
      expect(leavingHolders(p, owning, leaving, 3).map((m) => m.id)).toEqual(before.includes('node-4') ? ['node-4'] : []);
    }
    expect(leavingHolders(0, owning, [], 3)).toEqual([]);
  });

  it.each([
    [{ n: 3, w: 2, r: 2 }, 5, { n: 3, w: 2, r: 2 }],
    [{ n: 3, w: 2, r: 2 }, 2, { n: 2, w: 2, r: 2 }],
    [{ n: 3, w: 2, r: 2 }, 1, { n: 1, w: 1, r: 1 }],
    [{ n: 3, w: 3, r: 1 }, 0, { n: 1, w: 1, r: 1 }],
  ])('quorums %j with %d live nodes → %j', (q, live, expected) => {
    expect(effectiveQuorums(q, live)).toEqual(expected);
  });

  it('partition is the top bits of SHA-256(key)', () => {
    // sha256("hello") = 2cf24dba...
    expect(partitionOf('hello', 10)).toBe(0x2cf >> 2);
    expect(partitionOf('hello', 16)).toBe(0x2cf2);
  });
});
