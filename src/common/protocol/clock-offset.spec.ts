import { estimateClockOffset, isClockSkewed, judgeOwnClock } from './clock-offset.js';

describe('estimateClockOffset', () => {
  it.each([
    ['equal clocks, no delay', 1000, 1000, 0, 0],
    ['equal clocks, a 20 ms round trip: the heartbeat was sent 10 ms before receipt', 1010, 1000, 20, 0],
    ['node one hour ahead', 1000, 1000 + 3_600_000, 0, -3_600_000],
    ['node one hour behind, 40 ms round trip', 3_600_000 + 1020, 1000, 40, 3_600_000],
    ['a negative round trip is ignored', 1000, 1000, -50, 0],
  ])('%s', (_name, received, wall, rtt, expected) => {
    expect(estimateClockOffset(received, wall, rtt)).toBe(expected);
  });
});

describe('isClockSkewed', () => {
  it.each([
    [undefined, 500, false],
    [0, 500, false],
    [500, 500, false],
    [501, 500, true],
    [-501, 500, true],
    [-3_600_000, 500, true],
  ])('offset %p with a bound of %p: %p', (offset, max, expected) => {
    expect(isClockSkewed(offset, max)).toBe(expected);
  });
});

describe('judgeOwnClock (the node, from every registry that answered)', () => {
  it('is skewed only when every registry that judged says so', () => {
    expect(judgeOwnClock([{ clockSkewed: true }, { clockSkewed: true }], false)).toBe(true);
    expect(judgeOwnClock([{ clockSkewed: true }, { clockSkewed: false }], false)).toBe(false);
    expect(judgeOwnClock([{ clockSkewed: false }], true)).toBe(false);
  });

  it('keeps the previous verdict when no registry judged (unreachable, or none sent a clock yet)', () => {
    expect(judgeOwnClock([], true)).toBe(true);
    expect(judgeOwnClock([{}], false)).toBe(false);
    expect(judgeOwnClock([{ clockOffsetMs: 3 }], true)).toBe(true);
  });

  it('ignores registries that did not judge', () => {
    expect(judgeOwnClock([{}, { clockSkewed: true }], false)).toBe(true);
  });
});
