import { effectiveQuorums, ownersOf } from './placement.js';
import { partitionOf } from './partition.js';

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
