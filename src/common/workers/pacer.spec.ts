import { FakeTimers } from './fake-timers.js';
import { Pacer, type PaceLimits } from './pacer.js';

const LIMITS: PaceLimits = { entriesPerSec: 1000, bytesPerSec: 1_000_000, busyFactor: 10, minPauseMs: 50 };

/** Virtual time: how long `work` takes under the pacer. */
async function timed(timers: FakeTimers, work: () => Promise<void>): Promise<number> {
  const start = timers.now();
  let done = false;
  void work().then(() => (done = true));
  for (let i = 0; i < 10_000 && !done; i++) await timers.advance(10);
  if (!done) throw new Error('the paced work never finished');
  return timers.now() - start;
}

describe('Pacer', () => {
  it('paces small entries by their count: 500 tiny entries at 1000/s take about half a second', async () => {
    const timers = new FakeTimers();
    const pacer = new Pacer(LIMITS, () => false, timers);
    const took = await timed(timers, async () => {
      for (let i = 0; i < 500; i++) await pacer.spend(1, 10);
    });
    expect(pacer.sleptMs).toBeCloseTo(505, 0); // 1 ms an entry + 0.01 ms per 10 bytes
    expect(took).toBeGreaterThanOrEqual(500);
    expect(took).toBeLessThan(600);
  });

  it('paces large entries by their bytes: 10 MB in 10 entries at 1 MB/s take about ten seconds', async () => {
    const timers = new FakeTimers();
    const pacer = new Pacer(LIMITS, () => false, timers);
    const took = await timed(timers, async () => {
      for (let i = 0; i < 10; i++) await pacer.spend(1, 1_000_000);
    });
    expect(took).toBeGreaterThanOrEqual(10_000);
    expect(took).toBeLessThan(10_100);
  });

  it('slows down by the busy factor while the foreground is busy, and speeds up again when it is not', async () => {
    const timers = new FakeTimers();
    let busy = true;
    const pacer = new Pacer(LIMITS, () => busy, timers);
    const busyTook = await timed(timers, async () => {
      for (let i = 0; i < 100; i++) await pacer.spend(1, 0);
    });
    busy = false;
    const idleTook = await timed(timers, async () => {
      for (let i = 0; i < 100; i++) await pacer.spend(1, 0);
    });
    expect(busyTook).toBeGreaterThanOrEqual(1000); // 100 entries × 1 ms × 10
    expect(idleTook).toBeLessThan(busyTook / 5);
  });

  it('sleeps nothing until the debt is worth a pause, and shares one pause among concurrent callers', async () => {
    const timers = new FakeTimers();
    const pacer = new Pacer(LIMITS, () => false, timers);
    for (let i = 0; i < 49; i++) await pacer.spend(1, 0); // 49 ms owed: no timer yet
    expect(timers.delays()).toEqual([]);
    const waiting = Array.from({ length: 8 }, () => pacer.spend(1, 0));
    await timers.advance(0);
    expect(timers.delays()).toEqual([50]); // the 50th entry pays the debt; the 7 after it wait on that pause
    let settled = 0;
    for (const w of waiting) void w.then(() => settled++);
    await timers.advance(49);
    expect(settled).toBe(0);
    await timers.advance(1);
    expect(settled).toBe(8);
  });
});
