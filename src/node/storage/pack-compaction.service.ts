import { Inject, Injectable } from '@nestjs/common';
import { ClientLoadService } from '../../common/metrics/client-load.service.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { WorkerRunnerService } from '../../common/workers/worker-runner.service.js';
import type { Worker, WorkerSchedule, WorkResult } from '../../common/workers/worker.js';
import { ENTRY_INDEX, type EntryIndex } from './entry-index.js';

/** Bytes of pack records read per step, and the pause between steps: at most ≈ 10 MiB/s of background copying. */
const STEP_BYTES = 512 * 1024;
const STEP_PAUSE_MS = 50;
/** Steps wait while clients are being served or were within this long. */
const QUIET_MS = 250;
const YIELD_MS = 200;

/**
 * Reclaims the space of small files that deletes and overwrites freed in the pack files (see PackStore): a worker that
 * yields to clients, steps of STEP_BYTES, idle for a minute when nothing is worth compacting.
 */
@Injectable()
export class PackCompactionService implements Worker {
  readonly name = 'pack-compaction';
  readonly schedule: WorkerSchedule = { firstDelayMs: 10_000, idleDelayMs: 60_000, jitter: 0.2 };
  private readonly moved;
  private readonly removed;

  constructor(
    @Inject(ENTRY_INDEX) private readonly index: EntryIndex,
    private readonly load: ClientLoadService,
    metrics: MetricsService,
    runner: WorkerRunnerService,
  ) {
    this.moved = metrics.counter({ name: 'shoal_pack_compacted_bytes_total', help: 'bytes of live small files copied out of mostly-garbage pack segments' });
    this.removed = metrics.counter({ name: 'shoal_pack_segments_removed_total', help: 'pack segments deleted once nothing referenced them' });
    const usage = () => index.packUsage();
    metrics.gauge({ name: 'shoal_pack_bytes', help: 'bytes in the pack files of small files, referenced or garbage', collect() { this.set(usage().bytes); } });
    metrics.gauge({ name: 'shoal_pack_live_bytes', help: 'bytes of pack records still referenced (headers included)', collect() { this.set(usage().liveBytes); } });
    runner.register(this);
  }

  async work(): Promise<WorkResult> {
    if (this.load.activeWithin(QUIET_MS)) return { state: 'throttled', delayMs: YIELD_MS };
    const step = await this.index.compact(STEP_BYTES);
    this.moved.inc(step.movedBytes);
    this.removed.inc(step.removedSegments);
    return step.more ? { state: 'throttled', delayMs: STEP_PAUSE_MS } : 'idle';
  }
}
