import { Inject, Injectable, Logger, Optional, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { Counter } from 'prom-client';
import { MetricsService } from '../metrics/metrics.service.js';
import { DEFAULT_SHUTDOWN_DEADLINE_MS, realTimers, WORKER_METRIC_STATES, WORKER_SHUTDOWN_DEADLINE_MS, WORKER_TIMERS, type Worker, type WorkerMetricState, type WorkerState, type WorkerTimers, type WorkResult } from './worker.js';

const DEFAULT_IDLE_MS = 1000;
const DEFAULT_THROTTLED_MS = 100;
const DEFAULT_MAX_BACKOFF_MS = 5 * 60_000;
/** Backoff doubles at most this many times. */
const MAX_DOUBLINGS = 8;

interface Slot {
  readonly worker: Worker;
  state: WorkerMetricState;
  failures: number;
  timer?: unknown;
  running?: Promise<void>;
  /** Woken while a step ran: the next one comes soon after. */
  again: boolean;
  /** Ends a pause early (wake or stop). */
  interrupt?: () => void;
  stopped: boolean;
  stopping?: Promise<void>;
}

/**
 * Runs every registered {@link Worker} after bootstrap, one step at a time each: a wake-up or timer while a step
 * runs never starts a second one (the step is followed by another instead). A failed step is logged once per
 * streak (warn, with the error) and backs off exponentially with jitter; a success resets it. Before shutdown every
 * worker stops and the steps in flight are awaited — at most until the deadline — so they finish while the store is
 * still open (the store closes in onApplicationShutdown, after this).
 */
@Injectable()
export class WorkerRunnerService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(WorkerRunnerService.name);
  private readonly slots = new Map<string, Slot>();
  private readonly errors: Counter<'worker'>;
  private readonly timers: WorkerTimers;
  private readonly deadlineMs: number;
  private started = false;

  constructor(
    metrics: MetricsService,
    @Optional() @Inject(WORKER_TIMERS) timers?: WorkerTimers,
    @Optional() @Inject(WORKER_SHUTDOWN_DEADLINE_MS) deadlineMs?: number,
  ) {
    this.timers = timers ?? realTimers;
    this.deadlineMs = deadlineMs ?? DEFAULT_SHUTDOWN_DEADLINE_MS;
    const slots = () => this.slots.values();
    metrics.gauge({
      name: 'shoal_worker_state',
      help: 'background workers: 1 for the state each one is in (busy, idle, throttled, errored, stopped)',
      labelNames: ['worker', 'state'],
      collect() {
        for (const s of slots()) for (const state of WORKER_METRIC_STATES) this.set({ worker: s.worker.name, state }, s.state === state ? 1 : 0);
      },
    });
    this.errors = metrics.counter({ name: 'shoal_worker_errors_total', help: 'failed steps of background workers', labelNames: ['worker'] });
  }

  /** Adds a worker; it starts at bootstrap, or at once if that has passed. */
  register(worker: Worker): void {
    if (this.slots.has(worker.name)) throw new Error(`a worker named ${worker.name} is already registered`);
    const slot: Slot = { worker, state: 'idle', failures: 0, again: false, stopped: false };
    this.slots.set(worker.name, slot);
    this.errors.inc({ worker: worker.name }, 0);
    if (this.started) this.pause(slot, resolve(worker.schedule?.firstDelayMs) ?? 0);
  }

  onApplicationBootstrap(): void {
    this.started = true;
    for (const slot of this.slots.values()) this.pause(slot, resolve(slot.worker.schedule?.firstDelayMs) ?? 0);
  }

  /** Runs the worker's next step now (or right after the one in flight): a membership change, a new hint. */
  wake(name: string): void {
    const slot = this.slots.get(name);
    if (!slot || slot.stopped || !this.started) return;
    if (slot.running) {
      slot.again = true;
      return;
    }
    slot.interrupt?.();
  }

  /** Resolves once the worker has no step in flight (tests; shutdown uses {@link stop}). */
  async idle(name: string): Promise<void> {
    await this.slots.get(name)?.running;
  }

  state(name: string): WorkerMetricState | undefined {
    return this.slots.get(name)?.state;
  }

  /** Stops one worker and waits for its step in flight, at most until the deadline. Idempotent. */
  stop(name: string): Promise<void> {
    const slot = this.slots.get(name);
    if (!slot) return Promise.resolve();
    slot.stopping ??= this.halt(slot);
    return slot.stopping;
  }

  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all([...this.slots.keys()].map((name) => this.stop(name)));
  }

  private async halt(slot: Slot): Promise<void> {
    slot.stopped = true;
    slot.interrupt?.();
    if (slot.running) {
      let timer: unknown;
      const gaveUp = await Promise.race([
        slot.running.then(() => false),
        new Promise<boolean>((r) => (timer = this.timers.setTimeout(() => r(true), this.deadlineMs))),
      ]);
      this.timers.clearTimeout(timer);
      if (gaveUp) this.logger.warn({ worker: slot.worker.name, deadlineMs: this.deadlineMs }, 'background step still running at the shutdown deadline; not waiting for it');
    }
    slot.state = 'stopped';
  }

  /** Waits `ms` (cut short by wake or stop) — and by the worker's own waitForWork, if `waitForWork` — then steps. */
  private pause(slot: Slot, ms: number, waitForWork = false): void {
    if (slot.stopped) return;
    const done = () => {
      if (slot.interrupt !== done) return;
      slot.interrupt = undefined;
      this.timers.clearTimeout(slot.timer);
      slot.timer = undefined;
      this.step(slot);
    };
    slot.interrupt = done;
    slot.timer = this.timers.setTimeout(done, ms);
    if (waitForWork && slot.worker.waitForWork) void slot.worker.waitForWork().then(done, done);
  }

  private step(slot: Slot): void {
    if (slot.stopped || slot.running) return;
    slot.again = false;
    const startedAt = this.timers.now();
    slot.running = this.runOnce(slot, startedAt);
  }

  /** Never rejects. Clears `running` before it schedules the next step, so that nothing can find it still set. */
  private async runOnce(slot: Slot, startedAt: number): Promise<void> {
    const s = slot.worker.schedule ?? {};
    let delay: number;
    let waitForWork = false;
    try {
      const result = normalise(await slot.worker.work());
      if (slot.failures > 0) this.logger.log({ worker: slot.worker.name, failures: slot.failures }, 'background work succeeded again');
      slot.failures = 0;
      slot.state = result.state;
      if (result.state === 'busy') delay = 0;
      else if (result.state === 'throttled') delay = result.delayMs ?? s.throttledDelayMs ?? DEFAULT_THROTTLED_MS;
      else {
        waitForWork = result.delayMs === undefined;
        delay = this.jittered(result.delayMs ?? resolve(s.idleDelayMs) ?? DEFAULT_IDLE_MS, s.jitter);
        // As setInterval: ticks at start + k·delay; one that fell due while the step ran is skipped, not caught up.
        if (s.fixedRate && delay > 0) delay -= (this.timers.now() - startedAt) % delay;
      }
    } catch (err) {
      slot.failures++;
      slot.state = 'errored';
      this.errors.inc({ worker: slot.worker.name });
      if (slot.failures === 1) this.logger.warn({ worker: slot.worker.name, err }, 'background work failed; backing off until it succeeds');
      const base = resolve(s.backoff?.baseMs) ?? resolve(s.idleDelayMs) ?? DEFAULT_IDLE_MS;
      delay = this.jittered(Math.min(s.backoff?.maxMs ?? DEFAULT_MAX_BACKOFF_MS, base * 2 ** Math.min(slot.failures, MAX_DOUBLINGS)), s.jitter);
    }
    if (slot.again) {
      delay = Math.min(delay, s.againDelayMs ?? 0);
      waitForWork = false;
    }
    slot.running = undefined;
    if (slot.stopped) slot.state = 'stopped'; // a step that outlived the shutdown deadline
    this.pause(slot, delay, waitForWork);
  }

  /** `ms` scattered by ±`jitter` (a fraction), from the runner's random source (fixed in specs). */
  jittered(ms: number, jitter = 0): number {
    return jitter === 0 ? ms : Math.round(ms * (1 - jitter + this.timers.random() * 2 * jitter));
  }
}

function normalise(r: WorkResult): { state: WorkerState; delayMs?: number } {
  return typeof r === 'string' ? { state: r } : r;
}

function resolve(v: number | (() => number) | undefined): number | undefined {
  return typeof v === 'function' ? v() : v;
}
