import { compareVersions, decodeVersion, encodeVersion, HybridLogicalClock } from './hlc.js';

describe('HybridLogicalClock', () => {
  it('is strictly increasing even when the wall clock stalls or goes back', () => {
    let wall = 1000;
    const clock = new HybridLogicalClock('n1', () => wall);
    const a = clock.now();
    const b = clock.now();
    wall = 500;
    const c = clock.now();
    wall = 2000;
    const d = clock.now();
    expect([a, b, c, d]).toEqual([...[a, b, c, d]].sort());
    expect(new Set([a, b, c, d]).size).toBe(4);
    expect(decodeVersion(d)).toEqual({ ms: 2000, counter: 0, nodeId: 'n1' });
  });

  it('moves past observed versions, so a restart or a faster peer never makes it issue an older version', () => {
    const clock = new HybridLogicalClock('n1', () => 1000);
    const remote = encodeVersion(5000, 7, 'n2');
    clock.observe(remote);
    expect(compareVersions(clock.now(), remote)).toBe(1);
  });

  it('orders by ms, then counter, then node id — as plain strings', () => {
    const vs = [encodeVersion(2, 0, 'a'), encodeVersion(1, 1, 'z'), encodeVersion(1, 1, 'b'), encodeVersion(1, 0, 'z'), encodeVersion(0x10, 0, 'a')];
    const sorted = [...vs].sort(compareVersions);
    expect(sorted.map(decodeVersion)).toEqual([
      { ms: 1, counter: 0, nodeId: 'z' },
      { ms: 1, counter: 1, nodeId: 'b' },
      { ms: 1, counter: 1, nodeId: 'z' },
      { ms: 2, counter: 0, nodeId: 'a' },
      { ms: 16, counter: 0, nodeId: 'a' },
    ]);
  });
});
