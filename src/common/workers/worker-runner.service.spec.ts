import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { MetricsService } from '../metrics/metrics.service.js';
import { FakeTimers, settle } from './fake-timers.js';
import { WorkerRunnerService } from './worker-runner.service.js';
import type { Worker, WorkResult, WorkerSchedule } from './worker.js';

/** A worker whose steps the spec controls: each call records when it started and waits for `release`, if held. */
class ScriptedWorker implements Worker {
  starts: number[] = [];
  inFlight = 0;
  maxInFlight = 0;
  hold = false;
  private releases: (() => void)[] = [];
  next: () => WorkResult = () => 'idle';

  constructor(
    readonly name: string,
    private readonly timers: FakeTimers,
    readonly schedule?: WorkerSchedule,
  ) {}

  async work(): Promise<WorkResult> {
    this.starts.push(this.timers.now());
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.hold) await new Promise<void>((r) => this.releases.push(r));
      return this.next();
    } finally {
      this.inFlight--;
    }
  }

  release(): void {
    this.hold = false;
    for (const r of this.releases.splice(0)) r();
  }
}

describe('WorkerRunnerService', () => {
  let timers: FakeTimers;
  let metrics: MetricsService;
  let runner: WorkerRunnerService;
  const warn = jest.fn();

  beforeAll(() => Logger.overrideLogger({ log() {}, error() {}, warn: (...a: unknown[]) => warn(...a), debug() {}, verbose() {} }));
  beforeEach(() => {
    warn.mockClear();
    timers = new FakeTimers();
    metrics = new MetricsService();
    runner = new WorkerRunnerService(metrics, timers, 5_000);
  });

  async function stateMetric(worker: string): Promise<Record<string, number>> {
    const m = await metrics.registry.getSingleMetric('shoal_worker_state')!.get();
    return Object.fromEntries(m.values.filter((v) => v.labels.worker === worker).map((v) => [String(v.labels.state), v.value]));
  }

  it('starts workers at bootstrap after their first delay, then paces them by their idle pause', async () => {
    const w = new ScriptedWorker('w', timers, { firstDelayMs: 500, idleDelayMs: 1000 });
    runner.register(w);
    await timers.advance(10_000);
    expect(w.starts).toEqual([]); // nothing before bootstrap
    runner.onApplicationBootstrap();
    await timers.advance(3_600);
    expect(w.starts).toEqual([10_500, 11_500, 12_500, 13_500]);
  });

  it('busy runs again at once, throttled after its delay', async () => {
    const w = new ScriptedWorker('w', timers, { idleDelayMs: 1000 });
    const results: WorkResult[] = ['busy', 'busy', { state: 'throttled', delayMs: 250 }, 'idle'];
    w.next = () => results.shift() ?? 'idle';
    runner.register(w);
    runner.onApplicationBootstrap();
    await timers.advance(1_300);
    expect(w.starts).toEqual([0, 0, 0, 250, 1250]);
  });

  it('never runs one worker twice at once: a wake during a step becomes one step after it', async () => {
    const w = new ScriptedWorker('w', timers, { idleDelayMs: 60_000, againDelayMs: 200 });
    w.hold = true;
    runner.register(w);
    runner.onApplicationBootstrap();
    await timers.advance(0);
    expect(w.starts).toEqual([0]);
    for (let i = 0; i < 5; i++) runner.wake('w');
    await timers.advance(1_000);
    expect(w.maxInFlight).toBe(1);
    expect(w.starts).toEqual([0]);
    w.release();
    await timers.advance(199);
    expect(w.starts).toEqual([0]);
    await timers.advance(1);
    expect(w.starts).toEqual([0, 1200]); // once, 200 ms after the step ended
    await timers.advance(10_000);
    expect(w.starts).toHaveLength(2);
  });

  it('a wake cuts an idle pause short', async () => {
    const w = new ScriptedWorker('w', timers, { idleDelayMs: 60_000 });
    runner.register(w);
    runner.onApplicationBootstrap();
    await timers.advance(1_000);
    runner.wake('w');
    await timers.advance(0);
    expect(w.starts).toEqual([0, 1000]);
  });

  it('an idle step without a delay also waits for waitForWork', async () => {
    let signal!: () => void;
    const w = Object.assign(new ScriptedWorker('w', timers, { idleDelayMs: 60_000 }), {
      waitForWork: () => new Promise<void>((r) => (signal = r)),
    });
    runner.register(w);
    runner.onApplicationBootstrap();
    await timers.advance(500);
    signal();
    await settle();
    expect(w.starts).toEqual([0, 500]);
  });

  it('backs off exponentially with jitter after failures, logs once per streak, and resets on success', async () => {
    const w = new ScriptedWorker('w', timers, { idleDelayMs: 1000, jitter: 0.2, backoff: { maxMs: 10_000 } });
    let fail = 5;
    w.next = () => {
      if (fail-- > 0) throw new Error('disk on fire');
      return 'idle';
    };
    timers.randoms = [1, 0]; // +20 %, −20 %, alternating
    runner.register(w);
    runner.onApplicationBootstrap();
    await timers.advance(0);
    expect(runner.state('w')).toBe('errored');
    const gaps = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const [d] = timers.delays();
        await timers.advance(d);
      }
      return w.starts.slice(1).map((s, i) => s - w.starts[i]);
    };
    // 2 s +20 %, 4 s −20 %, 8 s +20 %, then capped at 10 s (−20 %, +20 %), then the idle pause again.
    expect(await gaps(6)).toEqual([2400, 3200, 9600, 8000, 12000, 800]);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatchObject({ worker: 'w', err: expect.objectContaining({ message: 'disk on fire' }) });
    expect(runner.state('w')).toBe('idle');
    const errors = await metrics.registry.getSingleMetric('shoal_worker_errors_total')!.get();
    expect(errors.values).toEqual([expect.objectContaining({ labels: { worker: 'w' }, value: 5 })]);
  });

  it('exports the state of each worker, 1 for the current one', async () => {
    const w = new ScriptedWorker('w', timers, { idleDelayMs: 1000 });
    w.next = () => ({ state: 'throttled', delayMs: 100 });
    runner.register(w);
    runner.onApplicationBootstrap();
    await timers.advance(0);
    expect(await stateMetric('w')).toEqual({ busy: 0, idle: 0, throttled: 1, errored: 0, stopped: 0 });
    await runner.beforeApplicationShutdown();
    expect(await stateMetric('w')).toEqual({ busy: 0, idle: 0, throttled: 0, errored: 0, stopped: 1 });
  });

  it('shutdown stops every worker and waits for the step in flight', async () => {
    const w = new ScriptedWorker('w', timers, { idleDelayMs: 10 });
    w.hold = true;
    runner.register(w);
    runner.onApplicationBootstrap();
    await timers.advance(0);
    let done = false;
    const stopping = runner.beforeApplicationShutdown().then(() => (done = true));
    await timers.advance(1_000);
    expect(done).toBe(false);
    w.release();
    await stopping;
    await timers.advance(60_000);
    expect(w.starts).toEqual([0]); // nothing after the stop
    runner.wake('w');
    await timers.advance(1_000);
    expect(w.starts).toEqual([0]);
  });

  it('shutdown gives up on a step still running at the deadline', async () => {
    const w = new ScriptedWorker('w', timers);
    w.hold = true;
    runner.register(w);
    runner.onApplicationBootstrap();
    await timers.advance(0);
    let done = false;
    void runner.stop('w').then(() => (done = true));
    await timers.advance(4_999);
    expect(done).toBe(false);
    await timers.advance(1);
    expect(done).toBe(true);
    expect(warn).toHaveBeenCalledWith(expect.objectContaining({ worker: 'w', deadlineMs: 5_000 }), expect.any(String), 'WorkerRunnerService');
    w.release(); // the step ends after all: the worker stays stopped
    await settle();
    expect(runner.state('w')).toBe('stopped');
    await timers.advance(60_000);
    expect(w.starts).toEqual([0]);
  });

  it('fixed rate counts the pause from the start of the previous step', async () => {
    const w = new ScriptedWorker('w', timers, { idleDelayMs: 1000, fixedRate: true });
    runner.register(w);
    runner.onApplicationBootstrap();
    w.hold = true;
    await timers.advance(300);
    w.release();
    await settle();
    await timers.advance(700);
    expect(w.starts).toEqual([0, 1000]);
    // A step longer than the period: the ticks that fell due meanwhile are skipped, the next one is kept.
    w.hold = true;
    await timers.advance(1000);
    await timers.advance(1500);
    w.release();
    await settle();
    await timers.advance(500);
    expect(w.starts).toEqual([0, 1000, 2000, 4000]); // 2000 ran until 3500: 3000 skipped
  });
});
