import { CLOCK_WINDOW, filterOffset, isClockSkewed, judgeOwnClock, recordHeartbeat, type ClockSample } from './clock-offset.js';

/** Heartbeats as a registry receives them: [receivedAt, wallClockMs, rttMs of the previous heartbeat]. */
function replay(beats: [number, number, number?][]): ClockSample[] {
  let samples: ClockSample[] = [];
  for (const [received, wall, rtt] of beats) samples = recordHeartbeat(samples, received, wall, rtt);
  return samples;
}

describe('recordHeartbeat: each heartbeat corrected by its own round trip', () => {
  it.each([
    ['equal clocks, no delay', [[1000, 1000, 0], [2000, 2000, 0]], 0],
    ['equal clocks, a 20 ms round trip: the heartbeat was sent 10 ms before receipt', [[1010, 1000], [2010, 2000, 20]], 0],
    ['node one hour ahead', [[1000, 1000 + 3_600_000], [2000, 2000 + 3_600_000, 0]], -3_600_000],
    ['node one hour behind, 40 ms round trip', [[3_600_000 + 1020, 1000], [3_600_000 + 2020, 2000, 40]], 3_600_000],
    ['a negative round trip is ignored', [[1000, 1000], [2000, 2000, -50]], 0],
  ] as [string, [number, number, number?][], number][])('%s', (_name, beats, expected) => {
    expect(replay(beats)[0].estimate).toBe(expected);
  });

  it('the newest heartbeat waits for its round trip (reported by the next one)', () => {
    const samples = replay([[1010, 1000], [2010, 2000, 20]]);
    expect(samples[1]).toEqual({ raw: 10 });
  });

  it('a slow round trip corrects only its own heartbeat, not the fast one after it', () => {
    // Heartbeat 1 stalled: sent at 1000, received at 1600 (answer back at 2200: rtt 1200). Heartbeat 2 was quick:
    // received 5 ms after it was sent, its own round trip 10 ms. Clocks agree.
    const samples = replay([[1600, 1000], [3005, 3000, 1200], [5005, 5000, 10], [7005, 7000, 10]]);
    expect(samples.map((x) => x.estimate)).toEqual([0, 0, 0, undefined]);
    expect(filterOffset(samples)).toBe(0);
    // Before the fix the quick heartbeat was corrected by the stalled one's round trip: 5 − 1200/2 = −595 ms,
    // more than MAX_CLOCK_SKEW_MS, and a healthy node was told to stop coordinating writes.
    expect(isClockSkewed(filterOffset(samples), 500)).toBe(false);
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
  const sample = (raw: number, rtt = 0): ClockSample => ({ raw, estimate: raw - rtt / 2, rttMs: rtt });

  it('judges nothing before three heartbeats with their round trip', () => {
    expect(filterOffset([sample(0), sample(1)])).toBeUndefined();
    expect(filterOffset([sample(0), sample(1), { raw: 2 }])).toBeUndefined();
    expect(filterOffset([sample(0), sample(1), sample(2)])).toBe(0);
  });

  it('a heartbeat stalled for 600 ms on a busy machine does not make a right clock look skewed', () => {
    const samples = [sample(3, 2), sample(600, 2), sample(4, 2), sample(650, 2)];
    expect(filterOffset(samples)).toBe(2);
    expect(isClockSkewed(filterOffset(samples), 500)).toBe(false);
  });

  it('a node that stalled after sending a heartbeat (its answer read 8 s late) does not look 4 s ahead', () => {
    // Clocks agree. Heartbeat 2 reached the registry 2 ms after it was sent — the least delayed of all — but the node
    // read the answer only 8.2 s later (a stalled event loop), so its round trip is 8 200 ms and its estimate
    // 2 − 4 100. Chosen by the least delay alone, it made a healthy node look 4 s ahead, and it stopped coordinating
    // writes (seen in the self-healing e2e on a busy machine).
    const samples = replay([[1005, 1000], [3002, 3000, 10], [13_005, 13_000, 8200], [15_005, 15_000, 10], [17_005, 17_000, 10]]);
    expect(samples.map((x) => x.estimate)).toEqual([0, -4098, 0, 0, undefined]);
    expect(filterOffset(samples)).toBe(0);
    expect(isClockSkewed(filterOffset(samples), 500)).toBe(false);
  });

  it('prefers the heartbeat with the shortest round trip, whose estimate has the tightest bound', () => {
    expect(filterOffset([sample(10, 60), sample(12, 20), sample(30, 50)])).toBe(2);
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
    let samples = replay(Array.from({ length: CLOCK_WINDOW }, (_, i): [number, number, number] => [i * 1000, i * 1000 + 3_600_000, 2]));
    for (let i = CLOCK_WINDOW; i < 2 * CLOCK_WINDOW + 1; i++) samples = recordHeartbeat(samples, i * 1000 + 5, i * 1000, 2);
    expect(samples).toHaveLength(CLOCK_WINDOW);
    expect(filterOffset(samples)).toBe(4);
  });
});
