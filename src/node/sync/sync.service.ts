import { Injectable, Logger } from '@nestjs/common';
import { PlacementService } from '../placement/placement.service.js';
import { NodeStateService } from '../state/node-state.service.js';
import { AntiEntropyService } from './anti-entropy.service.js';
import { HandoverService } from './handover.service.js';
import { RecoveryService } from './recovery.service.js';
import { TombstoneGcService } from './tombstone-gc.service.js';
import type { SyncReport } from '../info/node-info-section.js';

/**
 * One synchronisation round: anti-entropy with every co-owner (pull first), then — unless still recovering — hand
 * over what this node holds but does not own, and purge expired tombstones. Never two rounds at once.
 */
@Injectable()
export class SyncService {
  private readonly logger = new Logger(SyncService.name);
  private running?: Promise<void>;
  private last: SyncReport = { lastRoundMs: 0, lastRoundDiffering: 0, lastRoundPulled: 0, handoverBacklog: 0, quarantined: 0 };

  constructor(
    private readonly antiEntropy: AntiEntropyService,
    private readonly handover: HandoverService,
    private readonly gc: TombstoneGcService,
    private readonly recovery: RecoveryService,
    private readonly state: NodeStateService,
    private readonly placement: PlacementService,
  ) {}

  status(): SyncReport {
    return { ...this.last, handoverBacklog: this.handover.backlog, quarantined: this.recovery.quarantinedCount() };
  }

  /** Resolves when no round is running. */
  async idle(): Promise<void> {
    await this.running?.catch(() => undefined);
  }

  /** Runs a round, or waits for the one already running. */
  runRound(): Promise<void> {
    this.running ??= this.round().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async round(): Promise<void> {
    const startedAt = Date.now();
    const owned = this.placement.ownedPartitions();
    const recoveringAtStart = this.state.recovering;
    const report = await this.antiEntropy.round();
    await this.recovery.afterRound(report, owned, startedAt, recoveringAtStart);
    if (!this.state.recovering) {
      await this.handover.run();
      await this.gc.run();
    }
    this.last = {
      lastRoundAt: new Date().toISOString(),
      lastRoundMs: Date.now() - startedAt,
      lastRoundDiffering: report.differing,
      lastRoundPulled: report.pulled,
      handoverBacklog: this.handover.backlog,
      quarantined: this.recovery.quarantinedCount(),
    };
    if (report.pulled > 0 || report.differing > 0) this.logger.log({ ...this.last, peers: report.peers, bytes: report.bytes }, 'sync round pulled changes');
  }
}
