/**
 * Background work, in the spirit of Garage's `src/util/background/worker.rs`: a worker does one step of its job per
 * {@link Worker.work} call and says how it went; the {@link WorkerRunnerService} owns the timing around it — when
 * the next step runs, never two steps of one worker at once, backoff after failures, the shutdown deadline and the
 * `shoal_worker_state` metric. A new periodic job is a worker, not a new timer.
 */

/**
 * What a step reports. `busy`: there is more to do, run again at once. `idle`: nothing to do for now, run again after
 * the worker's idle pause (or when woken). `throttled`: there is more to do but it must wait a little (client load,
 * a rate limit), run again after the given delay.
 */
export type WorkerState = 'busy' | 'idle' | 'throttled';

/** A step's result: a state, optionally with the pause before the next step (instead of the worker's default). */
export type WorkResult = WorkerState | { state: WorkerState; delayMs: number };

/** Every state `shoal_worker_state` reports: the step states, a failure streak, and stopped (shutdown). */
export const WORKER_METRIC_STATES = ['busy', 'idle', 'throttled', 'errored', 'stopped'] as const;
export type WorkerMetricState = (typeof WORKER_METRIC_STATES)[number];

/** When a worker runs; every field is optional. */
export interface WorkerSchedule {
  /** Pause before the first step after start-up (default 0). */
  firstDelayMs?: number | (() => number);
  /** Pause after an `idle` step that names none (default 1 000 ms). */
  idleDelayMs?: number | (() => number);
  /** Pause after a `throttled` step that names none (default 100 ms). */
  throttledDelayMs?: number;
  /** Idle pauses and backoff are scattered by ±this fraction (0.2 = ±20 %), so nodes do not all act at once. */
  jitter?: number;
  /**
   * After `failures` failed steps in a row the next waits `min(maxMs, baseMs · 2^min(failures, 8))` (jittered).
   * Defaults: the idle pause as base, five minutes at most.
   */
  backoff?: { baseMs?: number | (() => number); maxMs?: number };
  /**
   * Idle pauses count from the start of the previous step (a fixed rate, as setInterval) rather than its end; a tick
   * that falls due while a step runs is skipped.
   */
  fixedRate?: boolean;
  /** Woken while a step runs: the next step follows this long after it (default 0). */
  againDelayMs?: number;
}

/** One background job. `work` never runs twice at once for one worker. */
export interface Worker {
  /** Unique per runner: the `worker` label of the metrics and the handle for `wake`/`stop`. */
  readonly name: string;
  readonly schedule?: WorkerSchedule;
  /** One step. A rejection counts as a failure: logged once per streak, then backed off. */
  work(): Promise<WorkResult>;
  /**
   * After an `idle` step with no delay: resolves when there may be work again. Raced against the idle pause, a
   * `wake` and shutdown, so it may simply never resolve.
   */
  waitForWork?(): Promise<void>;
}

/** Time as the runner sees it: real timers in the app, a fake one in specs (no real sleeps). */
export interface WorkerTimers {
  /** Monotonic milliseconds. */
  now(): number;
  /** Must not keep the process alive (the app's timers are unref'd). */
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** In [0, 1): the jitter's source. */
  random(): number;
}

export const WORKER_TIMERS = Symbol('WORKER_TIMERS');
/** How long shutdown waits for steps in flight before it gives up on them (ms). */
export const WORKER_SHUTDOWN_DEADLINE_MS = Symbol('WORKER_SHUTDOWN_DEADLINE_MS');
/**
 * Shutdown waits this long for steps in flight, then lets the store close under them: a step is a bounded piece of
 * work (a sync round, a batch of hints) that normally ends in well under a second, and the node must exit within its
 * orchestrator's grace period (30 s by default in Kubernetes) even when a peer hangs.
 */
export const DEFAULT_SHUTDOWN_DEADLINE_MS = 25_000;

export const realTimers: WorkerTimers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  random: Math.random,
};
