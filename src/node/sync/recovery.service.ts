import { link, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { Database } from 'lmdb';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { NodeStateService } from '../state/node-state.service.js';
import type { Entry } from '../storage/entry.js';
import { versionTime } from '../storage/hlc.js';
import { LocalStoreService } from '../storage/local-store.service.js';
import type { RoundReport } from './anti-entropy.service.js';

interface SyncMeta {
  /** when every owned partition was last compared with a co-owner */
  lastFullSyncAt: number;
}

/**
 * Guards against resurrection after a long absence (DESIGN §3). A node whose last complete comparison with its
 * co-owners is older than TOMBSTONE_TTL_MS starts `recovering`: it pulls from every co-owner and serves nothing until
 * then. Its entries older than the TTL that no co-owner knows — deletes whose tombstones were purged meanwhile — are
 * quarantined: kept aside under DATA_DIR/quarantine, never served or pushed, counted and listed for the operator.
 */
@Injectable()
export class RecoveryService implements OnModuleInit {
  private readonly logger = new Logger(RecoveryService.name);
  private meta!: Database<SyncMeta, string>;
  private quarantine!: Database<Entry, string>;
  /** In memory too: it is checked on every read of the node state. */
  private lastFull?: number;

  constructor(
    @Inject(APP_CONFIG) private readonly config: NodeConfig,
    private readonly store: LocalStoreService,
    private readonly state: NodeStateService,
    metrics: MetricsService,
  ) {
    const count = () => this.quarantinedCount();
    metrics.gauge({ name: 'shoal_quarantined_entries', help: 'entries quarantined after a long absence (not served, not pushed)', collect() { this.set(count()); } });
    const recovering = () => (this.state.recovering ? 1 : 0);
    metrics.gauge({ name: 'shoal_node_recovering', help: '1 while the node is recovering', collect() { this.set(recovering()); } });
  }

  onModuleInit(): void {
    this.meta = this.store.auxiliary<SyncMeta, string>('sync');
    this.quarantine = this.store.auxiliary<Entry, string>('quarantine');
    this.lastFull = this.meta.get('state')?.lastFullSyncAt;
    // An empty store has nothing to resurrect: it counts as in sync from now (else its first write makes it stale).
    if (this.lastFull === undefined && this.store.entryCount() === 0) {
      this.lastFull = Date.now();
      this.meta.putSync('state', { lastFullSyncAt: this.lastFull });
    }
    if (this.isStale(Date.now())) {
      this.state.set('recovering');
      this.logger.warn({ lastFullSyncAt: this.lastFullSyncAt() }, 'out of contact with co-owners for longer than TOMBSTONE_TTL_MS: recovering before serving');
    }
    // From now on every read of the node state checks this (a paused process must not serve what it queued as ready).
    this.state.watchStaleness(() => {
      if (!this.isStale(Date.now())) return false;
      this.logger.warn({ lastFullSyncAt: this.lastFull }, 'no complete sync within TOMBSTONE_TTL_MS: recovering before serving again');
      return true;
    });
  }

  lastFullSyncAt(): number | undefined {
    return this.lastFull;
  }

  /** True when this node holds data and has not completed a comparison with its co-owners within the TTL. */
  isStale(now: number): boolean {
    const last = this.lastFull;
    if (last === undefined) return this.store.entryCount() > 0;
    return now - last > this.config.tombstoneTtlMs;
  }

  quarantinedCount(): number {
    return this.quarantine ? this.quarantine.getCount() : 0;
  }

  listQuarantined(limit: number): Entry[] {
    return [...this.quarantine.getRange({ limit })].map((r) => r.value);
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
    this.lastFull = startedAt;
    if (recovering) this.state.set('ready');
    // On disk the time only needs to be recent enough for the next start-up: written at most every TTL/10 (≤ 1 min),
    // not on every round — an fsynced commit per second is the largest part of an idle round otherwise. An older time
    // on disk errs on the safe side (at worst one more recovery after a crash).
    const persisted = this.meta.get('state')?.lastFullSyncAt ?? 0;
    if (recovering || startedAt - persisted >= Math.min(this.config.tombstoneTtlMs / 10, 60_000)) {
      await this.meta.put('state', { lastFullSyncAt: startedAt });
    }
  }

  private async quarantineUnknown(report: RoundReport, owned: number[], now: number): Promise<number> {
    const horizon = now - this.config.tombstoneTtlMs;
    let n = 0;
    for (const p of owned) {
      const known = report.knownByPeers.get(p);
      if (!known) continue; // digests were equal: every co-owner knows every entry
      for (const e of [...this.store.scanPartition(p)]) {
        // An expired tombstone brings nothing back: tombstone GC purges it; only live entries are kept aside.
        if (e.deleted || known.has(e.key) || versionTime(e.version) >= horizon) continue;
        await this.keepAside(e);
        n++;
      }
    }
    return n;
  }

  private async keepAside(e: Entry): Promise<void> {
    if (!e.deleted) {
      const dest = join(this.store.files.quarantineDir, `${e.sha256}.entry`);
      const inline = this.store.inlineData(e.sha256);
      if (inline) await writeFile(dest, inline).catch(() => undefined);
      else await link(this.store.files.pathOf(e.sha256), dest).catch(() => undefined);
    }
    await this.quarantine.put(e.key, e);
    await this.store.purge(e);
    this.logger.warn({ key: e.key, version: e.version }, 'quarantined an entry no co-owner knows (deleted while this node was away?)');
  }
}
