import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { NodeStateService } from '../state/node-state.service.js';
import { SyncFreshness } from '../state/sync-freshness.js';
import type { Entry } from '../storage/entry.js';
import { versionTime } from '../storage/hlc.js';
import { LocalStoreService } from '../storage/local-store.service.js';
import { QUARANTINE_REPOSITORY, type QuarantineRepository } from '../storage/repositories.js';
import type { RoundReport } from './anti-entropy.service.js';

/**
 * Guards against resurrection after a long absence (DESIGN §3). A node whose last complete comparison with its
 * co-owners is older than TOMBSTONE_TTL_MS starts `recovering`: it pulls from every co-owner and serves nothing until
 * then. Its entries older than the TTL that no co-owner knows — deletes whose tombstones were purged meanwhile — are
 * quarantined: kept aside under DATA_DIR/quarantine, never served or pushed, counted and listed for the operator.
 */
@Injectable()
export class RecoveryService implements OnModuleInit {
  private readonly logger = new Logger(RecoveryService.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: NodeConfig,
    private readonly store: LocalStoreService,
    private readonly state: NodeStateService,
    /** When the last complete comparison was (the node state asks it too, on every read). */
    private readonly freshness: SyncFreshness,
    @Inject(QUARANTINE_REPOSITORY) private readonly quarantine: QuarantineRepository,
    metrics: MetricsService,
  ) {
    const count = () => this.quarantinedCount();
    metrics.gauge({ name: 'shoal_quarantined_entries', help: 'entries quarantined after a long absence (not served, not pushed)', collect() { this.set(count()); } });
    const recovering = () => (this.state.recovering ? 1 : 0);
    metrics.gauge({ name: 'shoal_node_recovering', help: '1 while the node is recovering', collect() { this.set(recovering()); } });
  }

  async onModuleInit(): Promise<void> {
    // An empty store has nothing to resurrect: it counts as in sync from now (else its first write makes it stale).
    if (this.freshness.lastFullSyncAt() === undefined && this.store.entries.entryCount() === 0) {
      const now = this.store.clock.wallMs();
      this.freshness.record(now);
      await this.freshness.persist(now);
    }
    // Checked before the state is first read: the node state would log this as "recovering again" otherwise.
    if (this.freshness.isStale()) {
      this.state.set('recovering');
      this.logger.warn({ lastFullSyncAt: this.lastFullSyncAt() }, 'out of contact with co-owners for longer than TOMBSTONE_TTL_MS: recovering before serving');
    }
  }

  lastFullSyncAt(): number | undefined {
    return this.freshness.lastFullSyncAt();
  }

  /** True when this node holds data and has not completed a comparison with its co-owners within the TTL. */
  isStale(now: number): boolean {
    return this.freshness.isStale(now);
  }

  quarantinedCount(): number {
    return this.quarantine.count();
  }

  listQuarantined(limit: number): Entry[] {
    return this.quarantine.list(limit);
  }

  /** Called after each round: records a complete comparison, and ends recovery when it was one. */
  async afterRound(report: RoundReport, owned: number[], startedAt: number, recoveringAtStart = this.state.recovering): Promise<void> {
    const complete = owned.every((p) => report.covered.has(p));
    if (!complete) return;
    const recovering = this.state.recovering;
    // Turned stale during this round (the process was paused mid-round): what it compared predates the pause.
    if (recovering && !recoveringAtStart) return;
    if (recovering) {
      const n = await this.quarantineUnknown(report, owned, startedAt);
      this.logger.warn({ quarantined: n }, 'recovery complete: compared every owned partition with its co-owners');
    }
    // Before `ready`, or the staleness check would undo it at once. Persisted only now: a crash before this point
    // leaves the old time on disk, so the next start recovers again.
    this.freshness.record(startedAt);
    if (recovering) this.state.set('ready');
    // On disk the time only needs to be recent enough for the next start-up: written at most every TTL/10 (≤ 1 min),
    // not on every round — an fsynced commit per second is the largest part of an idle round otherwise. An older time
    // on disk errs on the safe side (at worst one more recovery after a crash).
    const persisted = this.freshness.persistedAt() ?? 0;
    if (recovering || startedAt - persisted >= Math.min(this.config.tombstoneTtlMs / 10, 60_000)) {
      await this.freshness.persist(startedAt);
    }
  }

  private async quarantineUnknown(report: RoundReport, owned: number[], now: number): Promise<number> {
    const horizon = now - this.config.tombstoneTtlMs;
    let n = 0;
    for (const p of owned) {
      const known = report.knownByPeers.get(p);
      if (!known) continue; // digests were equal: every co-owner knows every entry
      for (const e of [...this.store.entries.scanPartition(p)]) {
        // An expired tombstone brings nothing back: tombstone GC purges it; only live entries are kept aside.
        if (e.deleted || known.has(e.key) || versionTime(e.version) >= horizon) continue;
        await this.keepAside(e);
        n++;
      }
    }
    return n;
  }

  private async keepAside(e: Entry): Promise<void> {
    await this.store.keepCopy(e);
    await this.quarantine.put(e);
    await this.store.purge(e);
    this.logger.warn({ key: e.key, version: e.version }, 'quarantined an entry no co-owner knows (deleted while this node was away?)');
  }
}
