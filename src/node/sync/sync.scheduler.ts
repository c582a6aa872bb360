import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { ClientLoadService } from '../../common/metrics/client-load.service.js';
import { NodeStateService } from '../state/node-state.service.js';
import { SyncService } from './sync.service.js';

/** Longest wait after failed rounds (exponential backoff from SYNC_INTERVAL_MS). */
const MAX_BACKOFF_MS = 5 * 60_000;
/** A round due while clients are served is put off in steps of this, by at most a fifth of the interval. */
const DEFER_STEP_MS = 250;

/**
 * Triggers sync rounds every SYNC_INTERVAL_MS, jittered ±20 % so that nodes do not all sync at once; a recovering
 * node starts at once. Rounds never overlap (the service serialises them); failures back off. A round that falls due
 * while clients are being served waits for a quiet moment, by at most a fifth of the interval (a recovering node
 * never waits: it must catch up before it serves).
 */
@Injectable()
export class SyncScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(SyncScheduler.name);
  private timer?: NodeJS.Timeout;
  private failures = 0;
  private stopped = false;
  private deferredMs = 0;

  constructor(
    @Inject(APP_CONFIG) private readonly config: NodeConfig,
    private readonly sync: SyncService,
    private readonly state: NodeStateService,
    private readonly load: ClientLoadService,
  ) {}

  onApplicationBootstrap(): void {
    this.schedule(this.state.recovering ? 500 : this.jittered(Math.min(this.config.syncIntervalMs, 5000)));
  }

  /** No new round, and the one in flight finishes while the store is still open. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.sync.idle();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (!this.state.recovering && this.load.busy() && this.deferredMs < this.config.syncIntervalMs / 5) {
      this.deferredMs += DEFER_STEP_MS;
      this.schedule(DEFER_STEP_MS);
      return;
    }
    this.deferredMs = 0;
    try {
      await this.sync.runRound();
      this.failures = 0;
    } catch (err) {
      this.failures++;
      this.logger.error({ err, failures: this.failures }, 'sync round failed');
    }
    const base = this.state.recovering ? Math.min(this.config.syncIntervalMs, 2000) : this.config.syncIntervalMs;
    this.schedule(this.jittered(Math.min(MAX_BACKOFF_MS, base * 2 ** Math.min(this.failures, 8))));
  }

  private jittered(ms: number): number {
    return Math.round(ms * (0.8 + Math.random() * 0.4));
  }
}
