import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';
import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { MetricsService } from './metrics.service.js';

/** The event loop counts as lagging when its delay over the last window had a p99 above this. */
const LAG_LIMIT_MS = 20;
/** How often the lag window is read and reset. */
const WINDOW_MS = 500;
/** Requests that are not client work: probes and scrapes never make background jobs wait. */
const NOT_LOAD = /^\/(health\/|metrics)/;

/**
 * How busy the foreground is, for background work to yield to (DESIGN §3 scrub and sync come second): requests in
 * flight (counted by the request observer) and the event loop's recent delay. Scrub and anti-entropy ask `busy()`
 * between steps and pause while it holds, so client latency does not pay for them.
 */
@Injectable()
export class ClientLoadService implements OnModuleDestroy {
  private inFlight = 0;
  private lagMs = 0;
  /** When the last counted request ended (performance.now()), for `activeWithin`. */
  private lastEndedAt = -Infinity;
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  private readonly timer: NodeJS.Timeout;

  constructor(metrics: MetricsService) {
    this.histogram.enable();
    this.timer = setInterval(() => {
      this.lagMs = this.histogram.percentile(99) / 1e6;
      this.histogram.reset();
    }, WINDOW_MS);
    this.timer.unref();
    metrics.gauge({ name: 'shoal_requests_in_flight', help: 'HTTP requests being served (probes and scrapes excluded)', collect: gaugeOf(() => this.inFlight) });
    metrics.gauge({ name: 'shoal_event_loop_lag_seconds', help: 'p99 event-loop delay over the last half second', collect: gaugeOf(() => this.lagMs / 1000) });
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
    this.histogram.disable();
  }

  /** Called by the request observer for each request; returns the function to call when it is done. */
  begin(url: string): (() => void) | undefined {
    if (NOT_LOAD.test(url)) return undefined;
    return this.track();
  }

  /** Counts one client request of a server without probes (the S3 API); returns the function to call when it is done. */
  track(): () => void {
    this.inFlight++;
    return () => {
      this.inFlight--;
      this.lastEndedAt = performance.now();
    };
  }

  /** True while requests are being served or the event loop lags: background work should wait. */
  busy(): boolean {
    return this.inFlight > 0 || this.lagMs > LAG_LIMIT_MS;
  }

  /**
   * `busy()`, or a request ended less than `quietMs` ago. For work that is pure overhead while clients are served
   * (the scrub): an owner fed by internal batches a few ms apart is between requests most of the time, so `busy()`
   * alone lets such work run in every gap (measured: the scrubber took ≈ 10 % of a loaded owner's CPU).
   */
  activeWithin(quietMs: number): boolean {
    return this.busy() || performance.now() - this.lastEndedAt < quietMs;
  }
}

function gaugeOf(read: () => number): (this: { set(v: number): void }) => void {
  return function collect() {
    this.set(read());
  };
}
