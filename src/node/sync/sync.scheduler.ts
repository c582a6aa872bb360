import { Inject, Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { ClientLoadService } from '../../common/metrics/client-load.service.js';
import { WorkerRunnerService } from '../../common/workers/worker-runner.service.js';
import type { Worker, WorkerSchedule, WorkResult } from '../../common/workers/worker.js';
import { NodeStateService } from '../state/node-state.service.js';
import { SyncService } from './sync.service.js';

/** Longest wait after failed rounds (exponential backoff from SYNC_INTERVAL_MS). */
const MAX_BACKOFF_MS = 5 * 60_000;
/** A round due while clients are served is put off in steps of this, by at most a fifth of the interval. */
const DEFER_STEP_MS = 250;

/**
 * Triggers sync rounds every SYNC_INTERVAL_MS, jittered ±20 % so that nodes do not all sync at once; a recovering
 * node starts at once. Rounds never overlap (the runner, and the service, serialise them); failures back off. A round
 * that falls due while clients are being served waits for a quiet moment (throttled), by at most a fifth of the
 * interval (a recovering node never waits: it must catch up before it serves).
 */
@Injectable()
export class SyncScheduler implements Worker, BeforeApplicationShutdown {
  readonly name = 'sync';
  readonly schedule: WorkerSchedule;
  private deferredMs = 0;

  constructor(
    @Inject(APP_CONFIG) private readonly config: NodeConfig,
    private readonly sync: SyncService,
    private readonly state: NodeStateService,
    private readonly load: ClientLoadService,
    private readonly runner: WorkerRunnerService,
  ) {
    const interval = config.syncIntervalMs;
    // Never more than MAX_BACKOFF_MS apart, even with a longer SYNC_INTERVAL_MS (as the backoff's own cap).
    const base = () => Math.min(MAX_BACKOFF_MS, this.state.recovering ? Math.min(interval, 2000) : interval);
    this.schedule = {
      // Read at bootstrap, once the node knows whether it is recovering.
      firstDelayMs: () => (this.state.recovering ? 500 : runner.jittered(Math.min(interval, 5000), 0.2)),
      idleDelayMs: base,
      jitter: 0.2,
      backoff: { baseMs: base, maxMs: MAX_BACKOFF_MS },
    };
    runner.register(this);
  }

  async work(): Promise<WorkResult> {
    if (!this.state.recovering && this.load.busy() && this.deferredMs < this.config.syncIntervalMs / 5) {
      this.deferredMs += DEFER_STEP_MS;
      return { state: 'throttled', delayMs: DEFER_STEP_MS };
    }
    this.deferredMs = 0;
    await this.sync.runRound();
    return 'idle';
  }

  /** No new round, and the one in flight finishes while the store is still open. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.runner.stop(this.name);
    await this.sync.idle();
  }
}
