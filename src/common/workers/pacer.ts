import type { WorkerTimers } from './worker.js';

export interface PaceLimits {
  /** Entries (files, tombstones) per second at most: each costs lookups and a commit whatever its size. */
  entriesPerSec: number;
  /** Bytes per second at most. */
  bytesPerSec: number;
  /** While the foreground is busy, every entry and byte costs this many times more (the rates are divided by it). */
  busyFactor: number;
  /** Pauses shorter than this are added up rather than slept one by one (a timer has a granularity). */
  minPauseMs: number;
}

/**
 * Paces background work by entries AND bytes (DESIGN §3: sync and scrub come second to clients): each unit of work
 * done adds the time it is worth at the limits, and once that adds up to `minPauseMs` the next caller sleeps it off.
 * While `busy()` says clients are being served or the event loop lags, the same work is worth `busyFactor` times
 * more, so background work slows down sharply under load but never stops (a node under constant load still converges).
 * Concurrent callers share the debt and wait on one pause, in the order they came.
 */
export class Pacer {
  private debtMs = 0;
  private tail: Promise<void> = Promise.resolve();
  /** Total time slept, for metrics and specs. */
  sleptMs = 0;

  constructor(
    private readonly limits: PaceLimits,
    private readonly busy: () => boolean,
    private readonly timers: Pick<WorkerTimers, 'setTimeout'>,
  ) {}

  /** Records work done (`entries`, `bytes`); resolves once its share of pausing is over. */
  spend(entries: number, bytes: number): Promise<void> {
    const l = this.limits;
    const cost = (entries * 1000) / l.entriesPerSec + (bytes * 1000) / l.bytesPerSec;
    this.debtMs += this.busy() ? cost * l.busyFactor : cost;
    if (this.debtMs < l.minPauseMs) return this.tail;
    const pause = Math.min(this.debtMs, 60_000);
    this.debtMs = 0;
    this.tail = this.tail.then(
      () =>
        new Promise<void>((resolve) => {
          this.sleptMs += pause;
          this.timers.setTimeout(resolve, pause);
        }),
    );
    return this.tail;
  }
}
