import { Injectable } from '@nestjs/common';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { NodeIdentity } from '../identity/node-identity.js';
import type { Member } from '../membership/merge.js';
import { PlacementService } from '../placement/placement.service.js';
import type { Entry } from '../storage/entry.js';
import { LocalStoreService } from '../storage/local-store.service.js';
import { NodeStateService } from '../state/node-state.service.js';
import { DeliveryService, type DeliveryPurpose } from './delivery.service.js';

/** How a caller follows one delivery: each confirmation as it comes, and what else still waits for an entry. */
export interface OutboxHooks {
  /** An owner confirmed it holds `entry` (or newer); called before any drop (a hint is removed here). */
  confirmed?(owner: Member, entry: Entry): Promise<void>;
  /** True while some owner not in this delivery still waits for `entry` (a hint for another owner). */
  owedElsewhere?(entry: Entry): boolean;
}

/**
 * "Deliver to the owners, drop once every owner confirmed" — the end of hinted handoff and of rebalancing (DESIGN §3)
 * alike. An entry this node holds on behalf of others is sent to each owner that lacks it, and the local copy is
 * dropped only once *every* owner confirmed it holds that version or a newer one: an owner that is down keeps the
 * copy alive until it is back (or declared dead and replaced). A copy in a partition this node owns is never dropped.
 */
@Injectable()
export class OutboxService {
  private readonly dropped;

  constructor(
    private readonly self: NodeIdentity,
    private readonly store: LocalStoreService,
    private readonly placement: PlacementService,
    private readonly delivery: DeliveryService,
    private readonly state: NodeStateService,
    metrics: MetricsService,
  ) {
    this.dropped = metrics.counter({ name: 'shoal_handover_dropped_total', help: 'entries dropped after every owner confirmed them (rebalancing, handoff)' });
  }

  /** A recovering node pushes nothing until it has pulled from its co-owners (DESIGN §3). */
  paused(): boolean {
    return this.state.recovering;
  }

  /** The key's current owners other than this node: where an entry goes once its hinted owner has left. */
  ownersOf(key: string): Member[] {
    return this.placement.ownersOfKey(key).filter((o) => o.id !== this.self.id);
  }

  /**
   * Delivers `entries` to every owner in `owners` that is up (this node is skipped) and drops each local copy that
   * every one of `owners` confirmed, unless this node owns its partition or {@link OutboxHooks.owedElsewhere}
   * holds it back. Returns the entries dropped.
   */
  async deliver(owners: readonly Member[], entries: Entry[], purpose: DeliveryPurpose, hooks: OutboxHooks = {}): Promise<number> {
    const others = owners.filter((o) => o.id !== this.self.id);
    if (others.length === 0 || entries.length === 0 || this.paused()) return 0;
    const confirmations = new Map<string, number>();
    for (const owner of others) {
      if (owner.status !== 'up') continue;
      for (const e of await this.delivery.deliverMissing(owner, entries, purpose, this.state.stopSignal)) {
        confirmations.set(e.key, (confirmations.get(e.key) ?? 0) + 1);
        await hooks.confirmed?.(owner, e);
      }
    }
    let dropped = 0;
    for (const e of entries) {
      if (confirmations.get(e.key) !== others.length) continue;
      if (this.placement.isOwner(this.placement.partitionOf(e.key))) continue;
      if (hooks.owedElsewhere?.(e)) continue;
      if ((await this.store.purge(e)).applied) dropped++;
    }
    this.dropped.inc(dropped);
    return dropped;
  }
}
