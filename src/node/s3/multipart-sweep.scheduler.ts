import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { WorkerRunnerService } from '../../common/workers/worker-runner.service.js';
import type { Worker, WorkerSchedule, WorkResult } from '../../common/workers/worker.js';
import { MultipartHandler } from './multipart.handler.js';

/** Receipts looked at per round. */
const ROUND = 200;
const MAX_BACKOFF_MS = 5 * 60_000;

/**
 * Runs {@link MultipartHandler.sweep} every SYNC_INTERVAL_MS (jittered, never overlapping, backing off after
 * failures — the worker runner's job) while the S3 API is on: the parts of a multipart object are freed once no
 * version of it refers to them.
 */
@Injectable()
export class MultipartSweepScheduler implements Worker {
  readonly name = 's3-multipart-sweep';
  readonly schedule: WorkerSchedule;
  private readonly logger = new Logger(MultipartSweepScheduler.name);
  private cursor?: string;
  private readonly freed;

  constructor(
    @Inject(APP_CONFIG) config: NodeConfig,
    private readonly multipart: MultipartHandler,
    metrics: MetricsService,
    runner: WorkerRunnerService,
  ) {
    this.freed = metrics.counter({ name: 'shoal_s3_multipart_parts_freed_total', help: 'completed uploads whose parts were freed after their object was overwritten or deleted' });
    const interval = config.syncIntervalMs;
    this.schedule = { firstDelayMs: () => runner.jittered(interval, 0.2), idleDelayMs: Math.min(MAX_BACKOFF_MS, interval), backoff: { baseMs: interval, maxMs: MAX_BACKOFF_MS }, jitter: 0.2 };
    if (config.s3.port !== undefined) runner.register(this);
  }

  async work(): Promise<WorkResult> {
    const { next, freed } = await this.multipart.sweep(this.cursor, ROUND);
    this.cursor = next;
    this.freed.inc(freed);
    if (freed > 0) this.logger.log({ freed }, 'freed the parts of superseded multipart objects');
    return 'idle';
  }
}
