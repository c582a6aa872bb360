import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { Database } from 'lmdb';
import type { Subscription } from 'rxjs';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { NodeIdentity } from '../identity/node-identity.js';
import { MembershipService } from '../membership/membership.service.js';
import { PlacementService } from '../placement/placement.service.js';
import type { Entry } from '../storage/entry.js';
import { LocalStoreService } from '../storage/local-store.service.js';
import { DeliveryService } from './delivery.service.js';
import { NodeStateService } from '../state/node-state.service.js';
import { peerError } from './peer-client.service.js';

type HintKey = [target: string, key: string];

/**
 * Hinted handoff: a persisted record "owner X missed key K", kept in the metadata store while the bytes stay in the
 * local store. Hints are delivered when their owner is up again — at once on a membership change, and on a timer —
 * then removed. A coordinator that held a key only on behalf of others drops its copy once every hint is delivered.
 * A hint whose target has left the placement is re-aimed at the key's current owners.
 */
@Injectable()
export class HandoffService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(HandoffService.name);
  private db!: Database<string, HintKey>;
  private sub?: Subscription;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
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

  onModuleDestroy(): void {
    this.sub?.unsubscribe();
    clearInterval(this.timer);
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
    for (const { key: [target, key] } of this.db.getRange({})) {
      const entry = this.store.get(key);
      if (!entry) {
        await this.db.remove([target, key]);
        continue;
      }
      const member = members.get(target);
      if (!member || member.status === 'dead') {
        // The owner left the placement: its replacement owners need the entry instead.
        await this.removeIfNotNewer([target, key], entry.version);
        for (const o of this.placement.ownersOfKey(key)) if (o.id !== this.self.id) await this.db.put([o.id, key], entry.version);
        continue;
      }
      if (member.status !== 'up' || target === this.self.id) continue;
      try {
        await this.delivery.send(member, entry);
      } catch (err) {
        this.logger.debug({ key, target, err: peerError(err) }, 'hint not delivered yet');
        continue;
      }
      await this.removeIfNotNewer([target, key], entry.version);
      this.delivered.inc();
      await this.dropIfOnlyHeldForOthers(entry, [...members.keys()]);
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
