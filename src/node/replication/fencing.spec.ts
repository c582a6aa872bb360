import { HybridLogicalClock, compareVersions, encodeVersion } from '../storage/hlc.js';
import { fenceVerdict, highestBlocking } from './fencing.js';

const v = (ms: number, counter = 0, node = 'n1') => encodeVersion(ms, counter, node);

describe('fenceVerdict (an owner judging a proposed version)', () => {
  it.each([
    ['nothing held', undefined, v(100), true],
    ['an older version held', v(99), v(100), true],
    ['the same ms, lower counter', v(100, 1), v(100, 2), true],
    ['the same version held (no write may reuse it)', v(100), v(100), false],
    ['a newer version held', v(101), v(100), false],
    ['a newer counter at the same ms', v(100, 3), v(100, 2), false],
    ['the same ms and counter from a node id that sorts after', v(100, 0, 'n2'), v(100, 0, 'n1'), false],
  ])('%s', (_name, held, proposed, accepted) => {
    const verdict = fenceVerdict(held, proposed);
    expect(verdict.accepted).toBe(accepted);
    if (!verdict.accepted) expect(verdict.held).toBe(held);
  });
});

describe('highestBlocking (a coordinator judging one round of answers)', () => {
  it('lets a proposal stand when every owner holds only older versions or nothing', () => {
    expect(highestBlocking([{ held: null }, { held: v(5) }], v(10))).toBeUndefined();
  });

  it('names the highest version that blocks it', () => {
    expect(highestBlocking([{ held: v(11) }, { held: v(50) }, { held: v(3) }], v(10))).toBe(v(50));
  });
});

/**
 * The property of DESIGN §3: for every key, a write that starts after another was acknowledged gets a higher version,
 * whatever the clocks. Simulated here with N owners, quorums of W drawn at random, and per-node wall clocks offset by
 * up to ±1 h.
 */
describe('fenced versions across skewed clocks', () => {
  function simulate(seed: number): void {
    let state = seed;
    const rand = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const n = 3;
    const w = 2;
    let now = 1_000_000;
    const offsets = [0, 3_600_000, -3_600_000, 120_000, -500];
    const clocks = offsets.map((off, i) => new HybridLogicalClock(`c${i}`, () => now + off));
    const held: (string | undefined)[] = Array.from({ length: n }, () => undefined);
    let lastAcked: string | undefined;
    for (let op = 0; op < 200; op++) {
      now += Math.floor(rand() * 50);
      const coordinator = clocks[Math.floor(rand() * clocks.length)];
      const quorum = pick(n, w, rand);
      let version = coordinator.now();
      for (let attempt = 0; ; attempt++) {
        const blocking = highestBlocking(quorum.map((o) => ({ held: held[o] ?? null })), version);
        if (blocking === undefined) break;
        coordinator.observe(blocking);
        version = coordinator.now();
        if (attempt > 3) throw new Error('a proposal after observing the blocker must stand');
      }
      for (const o of pick(n, w, rand).concat(quorum).slice(0, w)) {
        if (!held[o] || compareVersions(held[o]!, version) < 0) held[o] = version;
      }
      if (lastAcked) expect(compareVersions(version, lastAcked)).toBeGreaterThan(0);
      lastAcked = version;
    }
  }

  function pick(n: number, k: number, rand: () => number): number[] {
    const all = Array.from({ length: n }, (_, i) => i).sort(() => rand() - 0.5);
    return all.slice(0, k);
  }

  it.each([1, 2, 3, 42, 1234])('seed %i: every later write gets a higher version', (seed) => simulate(seed));

  it('without fencing, a coordinator one hour behind writes a version that loses', () => {
    const fast = new HybridLogicalClock('fast', () => 1_000_000 + 3_600_000);
    const slow = new HybridLogicalClock('slow', () => 1_000_000 + 10);
    const first = fast.now();
    const second = slow.now();
    expect(compareVersions(second, first)).toBeLessThan(0);
    const blocking = highestBlocking([{ held: first }], second);
    expect(blocking).toBe(first);
    slow.observe(blocking!);
    expect(compareVersions(slow.now(), first)).toBeGreaterThan(0);
  });
});
