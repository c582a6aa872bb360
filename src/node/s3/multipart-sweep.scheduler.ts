import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { MultipartHandler } from './multipart.handler.js';

/** Receipts looked at per round. */
const ROUND = 200;
const MAX_BACKOFF_MS = 5 * 60_000;

/**
 * Runs {@link MultipartHandler.sweep} every SYNC_INTERVAL_MS (jittered, never overlapping, backing off after
 * failures) while the S3 API is on: the parts of a multipart object are freed once no version of it refers to them.
 */
@Injectable()
export class MultipartSweepScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(MultipartSweepScheduler.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private cursor?: string;
  private failures = 0;
  private stopped = false;
  private readonly freed;

  constructor(
    @Inject(APP_CONFIG) private readonly config: NodeConfig,
    private readonly multipart: MultipartHandler,
    metrics: MetricsService,
  ) {
    this.freed = metrics.counter({ name: 'shoal_s3_multipart_parts_freed_total', help: 'completed uploads whose parts were freed after their object was overwritten or deleted' });
  }

  onApplicationBootstrap(): void {
    if (this.config.s3.port !== undefined) this.schedule(this.jittered(this.config.syncIntervalMs));
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick();
    }, ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      const { next, freed } = await this.multipart.sweep(this.cursor, ROUND);
      this.cursor = next;
      this.freed.inc(freed);
      if (freed > 0) this.logger.log({ freed }, 'freed the parts of superseded multipart objects');
      this.failures = 0;
    } catch (err) {
      this.failures++;
      this.logger.warn({ err, failures: this.failures }, 'multipart sweep failed; retrying later');
    }
    this.schedule(this.jittered(Math.min(MAX_BACKOFF_MS, this.config.syncIntervalMs * 2 ** Math.min(this.failures, 8))));
  }

  private jittered(ms: number): number {
    return Math.round(ms * (0.8 + Math.random() * 0.4));
  }
}
