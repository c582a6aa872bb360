import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { Database } from 'lmdb';
import type { Subscription } from 'rxjs';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { NodeIdentity } from '../identity/node-identity.js';
import { MembershipService } from '../membership/membership.service.js';
import { PlacementService } from '../placement/placement.service.js';
import type { Entry } from '../storage/entry.js';
import { LocalStoreService } from '../storage/local-store.service.js';
import type { Member } from '../membership/merge.js';
import { OWNING_STATUSES } from '../../common/protocol/membership.dto.js';
import { DeliveryService } from './delivery.service.js';
import { NodeStateService } from '../state/node-state.service.js';

type HintKey = [target: string, key: string];

/** Hints looked up per versions request. */
const BATCH = 200;

/**
 * Hinted handoff: a persisted record "owner X missed key K", kept in the metadata store while the bytes stay in the
 * local store. Hints are delivered when their owner is up again — at once on a membership change, and on a timer —
 * then removed. A coordinator that held a key only on behalf of others drops its copy once every hint is delivered.
 * A hint whose target has left the placement is re-aimed at the key's current owners.
 */
@Injectable()
export class HandoffService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(HandoffService.name);
  private db!: Database<string, HintKey>;
  private sub?: Subscription;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = false;
  private readonly delivered;

  constructor(
    @Inject(APP_CONFIG) private readonly config: NodeConfig,
    private readonly self: NodeIdentity,
    private readonly store: LocalStoreService,
    private readonly membership: MembershipService,
    private readonly placement: PlacementService,
    private readonly delivery: DeliveryService,
    private readonly state: NodeStateService,
    metrics: MetricsService,
  ) {
    const pending = () => this.pending();
    metrics.gauge({ name: 'shoal_handoff_pending', help: 'hinted-handoff records waiting for their owner', collect() { this.set(pending()); } });
    this.delivered = metrics.counter({ name: 'shoal_handoff_delivered_total', help: 'hints delivered to their owner' });
  }

  onApplicationBootstrap(): void {
    this.db = this.store.auxiliary<string, HintKey>('hints');
    this.sub = this.membership.changes.subscribe(() => this.kick());
    this.timer = setInterval(() => this.kick(), Math.max(1000, this.config.heartbeatIntervalMs));
    this.timer.unref();
  }

  /** Stops delivering and waits for the round in flight, while the store is still open. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    this.sub?.unsubscribe();
    clearInterval(this.timer);
    await this.running;
  }

  async hint(target: string, entry: Entry): Promise<void> {
    await this.db.put([target, entry.key], entry.version);
    this.kick();
  }

  pending(): number {
    return this.db ? this.db.getCount() : 0;
  }

  /** Starts a delivery round, or asks the running one to go again. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.deliverAll()
      .catch((err: unknown) => this.logger.error({ err }, 'hint delivery round failed'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          setTimeout(() => this.kick(), 200).unref();
        }
      });
  }

  /** Waits for the current round (tests and shutdown). */
  async idle(): Promise<void> {
    await this.running;
  }

  private async deliverAll(): Promise<void> {
    if (this.state.recovering) return; // pushes nothing until it has pulled from its co-owners
    const members = new Map(this.membership.members().map((m) => [m.id, m]));
    const byTarget = new Map<string, { key: string; version: string }[]>();
    for (const { key: [target, key], value } of this.db.getRange({})) {
      if (!this.store.get(key)) {
        await this.db.remove([target, key]); // purged here since (an expired tombstone): nothing left to deliver
        continue;
      }
      const list = byTarget.get(target) ?? [];
      list.push({ key, version: value });
      byTarget.set(target, list);
    }
    for (const [target, hints] of byTarget) {
      const member = members.get(target);
      // Dead, leaving or left: the target owns nothing any more; its successors get the entries instead.
      if (!member || !OWNING_STATUSES.has(member.status)) {
        await this.reaim(target, hints);
        continue;
      }
      if (member.status !== 'up' || target === this.self.id) continue;
      for (let i = 0; i < hints.length; i += BATCH) await this.deliverBatch(member, hints.slice(i, i + BATCH), [...members.keys()]);
    }
  }

  /** The owner left the placement: its replacement owners need the entries instead. */
  private async reaim(target: string, hints: { key: string; version: string }[]): Promise<void> {
    for (const { key, version } of hints) {
      await this.removeIfNotNewer([target, key], version);
      const entry = this.store.get(key);
      if (!entry) continue;
      for (const o of this.placement.ownersOfKey(key)) if (o.id !== this.self.id) await this.db.put([o.id, key], entry.version);
    }
  }

  /** Delivers a batch of hints to one owner; what it already holds (anti-entropy may have been faster) is not sent. */
  private async deliverBatch(member: Member, hints: { key: string; version: string }[], memberIds: string[]): Promise<void> {
    const present = hints.map((h) => this.store.get(h.key)).filter((e): e is Entry => e !== undefined);
    for (const e of await this.delivery.deliverMissing(member, present, 'handoff')) {
      await this.removeIfNotNewer([member.id, e.key], e.version);
      this.delivered.inc();
      await this.dropIfOnlyHeldForOthers(e, memberIds);
    }
  }


  /**
   * Removes a hint once `delivered` reached its owner — unless a newer write missed the same owner meanwhile and
   * replaced the hint, which must then stay for the next round.
   */
  private removeIfNotNewer(hint: HintKey, delivered: string): Promise<boolean> {
    return this.db.transaction(() => {
      const pending = this.db.get(hint);
      if (pending === undefined || pending > delivered) return false;
      return this.db.removeSync(hint);
    });
  }

  private async dropIfOnlyHeldForOthers(entry: Entry, memberIds: string[]): Promise<void> {
    if (this.placement.isOwner(this.placement.partitionOf(entry.key))) return;
    if (memberIds.some((id) => this.db.doesExist([id, entry.key]))) return;
    await this.store.purge(entry);
  }
}
