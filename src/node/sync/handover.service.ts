import { Injectable } from '@nestjs/common';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { NodeIdentity } from '../identity/node-identity.js';
import { PlacementService } from '../placement/placement.service.js';
import { DeliveryService } from '../replication/delivery.service.js';
import type { Entry } from '../storage/entry.js';
import { NodeStateService } from '../state/node-state.service.js';
import { LocalStoreService } from '../storage/local-store.service.js';

/** Keys asked about in one versions request. */
const BATCH = 200;

/**
 * Rebalancing and the end of hinted handoff (DESIGN §3): entries this node holds for partitions it does not own are
 * delivered to the current owners and dropped locally only once *every* owner confirms it holds that version or a
 * newer one. An owner that is down keeps the local copy alive until it is back (or declared dead and replaced).
 */
@Injectable()
export class HandoverService {
  private readonly handedOver;
  backlog = 0;

  constructor(
    private readonly self: NodeIdentity,
    private readonly store: LocalStoreService,
    private readonly placement: PlacementService,
    private readonly delivery: DeliveryService,
    private readonly state: NodeStateService,
    metrics: MetricsService,
  ) {
    this.handedOver = metrics.counter({ name: 'shoal_handover_dropped_total', help: 'entries dropped after every owner confirmed them (rebalancing, handoff)' });
    const backlog = () => this.backlog;
    metrics.gauge({ name: 'shoal_handover_backlog', help: 'entries held for partitions this node does not own', collect() { this.set(backlog()); } });
  }

  /** One pass over the partitions held but not owned. Returns the entries dropped. */
  async run(): Promise<number> {
    let dropped = 0;
    let backlog = 0;
    for (const p of [...this.store.heldPartitions()]) {
      // Stopping (SIGTERM): the rest waits for the next start — nothing is dropped before its owners confirmed it,
      // so a pass cut short loses nothing, and shutdown stays within the grace period.
      if (this.state.stopping) break;
      if (this.placement.isOwner(p)) continue;
      const entries = [...this.store.scanPartition(p)];
      backlog += entries.length;
      for (let i = 0; i < entries.length && !this.state.stopping; i += BATCH) dropped += await this.handOver(p, entries.slice(i, i + BATCH));
    }
    this.backlog = backlog - dropped;
    return dropped;
  }

  private async handOver(partition: number, entries: Entry[]): Promise<number> {
    const owners = this.placement.ownersOfPartition(partition).filter((o) => o.id !== this.self.id);
    if (owners.length === 0) return 0;
    const confirmed = new Map<string, number>();
    for (const owner of owners) {
      if (owner.status !== 'up') continue;
      for (const e of await this.delivery.deliverMissing(owner, entries, 'handover')) confirmed.set(e.key, (confirmed.get(e.key) ?? 0) + 1);
    }
    let dropped = 0;
    for (const e of entries) {
      if (confirmed.get(e.key) !== owners.length) continue;
      const r = await this.store.purge(e);
      if (r.applied) dropped++;
    }
    this.handedOver.inc(dropped);
    return dropped;
  }

}
