import { Injectable } from '@nestjs/common';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { PlacementService } from '../placement/placement.service.js';
import { OutboxService } from '../replication/outbox.service.js';
import { NodeStateService } from '../state/node-state.service.js';
import { LocalStoreService } from '../storage/local-store.service.js';

/** Keys asked about in one versions request. */
const BATCH = 200;

/**
 * Rebalancing and the end of hinted handoff (DESIGN §3): entries this node holds for partitions it does not own go
 * to the current owners through the {@link OutboxService}, which drops them locally only once *every* owner confirms
 * it holds that version or a newer one. An owner that is down keeps the local copy alive until it is back (or
 * declared dead and replaced).
 */
@Injectable()
export class HandoverService {
  backlog = 0;

  constructor(
    private readonly store: LocalStoreService,
    private readonly placement: PlacementService,
    private readonly outbox: OutboxService,
    private readonly state: NodeStateService,
    metrics: MetricsService,
  ) {
    const backlog = () => this.backlog;
    metrics.gauge({ name: 'shoal_handover_backlog', help: 'entries held for partitions this node does not own', collect() { this.set(backlog()); } });
  }

  /** One pass over the partitions held but not owned. Returns the entries dropped. */
  async run(): Promise<number> {
    let dropped = 0;
    let backlog = 0;
    for (const p of [...this.store.entries.partitions()]) {
      // Stopping (SIGTERM): the rest waits for the next start — nothing is dropped before its owners confirmed it,
      // so a pass cut short loses nothing, and shutdown stays within the grace period.
      if (this.state.stopping) break;
      if (this.placement.isOwner(p)) continue;
      const entries = [...this.store.entries.scanPartition(p)];
      backlog += entries.length;
      const owners = this.placement.ownersOfPartition(p);
      for (let i = 0; i < entries.length && !this.state.stopping; i += BATCH) dropped += await this.outbox.deliver(owners, entries.slice(i, i + BATCH), 'handover');
    }
    this.backlog = backlog - dropped;
    return dropped;
  }
}
