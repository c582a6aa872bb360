import { addSample, CLOCK_WINDOW, estimateClockOffset, filterOffset, isClockSkewed, judgeOwnClock } from './clock-offset.js';

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

describe('filterOffset (the least delayed of the recent heartbeats)', () => {
  const sample = (raw: number, rtt = 0) => ({ raw, estimate: raw - rtt / 2 });

  it('judges nothing before three heartbeats', () => {
    expect(filterOffset([sample(0), sample(1)])).toBeUndefined();
    expect(filterOffset([sample(0), sample(1), sample(2)])).toBe(0);
  });

  it('a heartbeat stalled for 600 ms on a busy machine does not make a right clock look skewed', () => {
    const samples = [sample(3, 2), sample(600, 2), sample(4, 2), sample(650, 2)];
    expect(filterOffset(samples)).toBe(2);
    expect(isClockSkewed(filterOffset(samples), 500)).toBe(false);
  });

  it('a node an hour ahead stays an hour ahead, stalls or not', () => {
    const samples = [sample(-3_600_000 + 5), sample(-3_600_000 + 700), sample(-3_600_000 + 3)];
    expect(filterOffset(samples)).toBe(-3_600_000 + 3);
    expect(isClockSkewed(filterOffset(samples), 500)).toBe(true);
  });

  it('a node an hour behind is flagged', () => {
    expect(isClockSkewed(filterOffset([sample(3_600_000), sample(3_600_010), sample(3_600_400)]), 500)).toBe(true);
  });

  it('forgets old heartbeats: a clock put right is judged right within a window', () => {
    let samples = Array.from({ length: CLOCK_WINDOW }, () => sample(-3_600_000));
    for (let i = 0; i < CLOCK_WINDOW; i++) samples = addSample(samples, sample(5));
    expect(samples).toHaveLength(CLOCK_WINDOW);
    expect(filterOffset(samples)).toBe(5);
  });
});
