import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { WorkerRunnerService } from '../../common/workers/worker-runner.service.js';
import type { Worker, WorkerSchedule, WorkResult } from '../../common/workers/worker.js';
import { MembershipService } from '../membership/membership.service.js';
import type { Entry } from '../storage/entry.js';
import { LocalStoreService } from '../storage/local-store.service.js';
import { HINT_REPOSITORY, type HintKey, type HintRepository } from '../storage/repositories.js';
import type { Member } from '../membership/merge.js';
import { OWNING_STATUSES } from '../../common/protocol/membership.dto.js';
import { OutboxService } from './outbox.service.js';

/** Hints looked up per versions request. */
const BATCH = 200;
/** Kicked while a round runs: the next one follows this long after it. */
const AGAIN_MS = 200;

/**
 * Hinted handoff: a persisted record "owner X missed key K", kept in the metadata store while the bytes stay in the
 * local store. Hints are delivered (through the {@link OutboxService}) when their owner is up again — at once on a
 * membership change or a new hint, and on a timer — then removed. A coordinator that held a key only on behalf of
 * others drops its copy once every hint is delivered. A hint whose target has left the placement is re-aimed at the
 * key's current owners. Rounds are steps of a worker on the runner: never two at once.
 */
@Injectable()
export class HandoffService implements Worker, OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly name = 'handoff';
  readonly schedule: WorkerSchedule;
  private sub?: Subscription;
  private readonly delivered;

  constructor(
    @Inject(APP_CONFIG) config: NodeConfig,
    private readonly store: LocalStoreService,
    private readonly membership: MembershipService,
    private readonly outbox: OutboxService,
    private readonly runner: WorkerRunnerService,
    @Inject(HINT_REPOSITORY) private readonly db: HintRepository,
    metrics: MetricsService,
  ) {
    const pending = () => this.pending();
    metrics.gauge({ name: 'shoal_handoff_pending', help: 'hinted-handoff records waiting for their owner', collect() { this.set(pending()); } });
    this.delivered = metrics.counter({ name: 'shoal_handoff_delivered_total', help: 'hints delivered to their owner' });
    const interval = Math.max(1000, config.heartbeatIntervalMs);
    // A failed round is tried again on the next tick, as any other: backoff never grows past the interval.
    this.schedule = { firstDelayMs: 0, idleDelayMs: interval, againDelayMs: AGAIN_MS, backoff: { baseMs: interval / 2, maxMs: interval } };
    runner.register(this);
  }

  onApplicationBootstrap(): void {
    this.sub = this.membership.changes.subscribe(() => this.kick());
  }

  /** Stops delivering and waits for the round in flight, while the store is still open. */
  async beforeApplicationShutdown(): Promise<void> {
    this.sub?.unsubscribe();
    await this.runner.stop(this.name);
  }

  async hint(target: string, entry: Entry): Promise<void> {
    await this.db.put([target, entry.key], entry.version);
    this.kick();
  }

  pending(): number {
    return this.db.getCount();
  }

  /** Starts a delivery round, or asks the running one to go again. */
  kick(): void {
    this.runner.wake(this.name);
  }

  /** One delivery round over every hint. */
  async work(): Promise<WorkResult> {
    if (this.outbox.paused()) return 'idle'; // pushes nothing until it has pulled from its co-owners
    const db = this.db;
    const members = new Map(this.membership.members().map((m) => [m.id, m]));
    const byTarget = new Map<string, { key: string; version: string }[]>();
    for (const { key: [target, key], value } of db.getRange({})) {
      if (!this.store.get(key)) {
        await db.remove([target, key]); // purged here since (an expired tombstone): nothing left to deliver
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
      if (member.status !== 'up') continue;
      for (let i = 0; i < hints.length; i += BATCH) await this.deliverBatch(member, hints.slice(i, i + BATCH), [...members.keys()]);
    }
    return 'idle';
  }

  /** The owner left the placement: its replacement owners need the entries instead. */
  private async reaim(target: string, hints: { key: string; version: string }[]): Promise<void> {
    for (const { key, version } of hints) {
      await this.removeIfNotNewer([target, key], version);
      const entry = this.store.get(key);
      if (!entry) continue;
      for (const o of this.outbox.ownersOf(key)) await this.db.put([o.id, key], entry.version);
    }
  }

  /**
   * Delivers a batch of hints to one owner; what it already holds (anti-entropy may have been faster) is not sent.
   * A coordinator that held a key only for others drops it once no hint for it is left.
   */
  private async deliverBatch(member: Member, hints: { key: string; version: string }[], memberIds: string[]): Promise<void> {
    const present = hints.map((h) => this.store.get(h.key)).filter((e): e is Entry => e !== undefined);
    await this.outbox.deliver([member], present, 'handoff', {
      confirmed: async (owner, e) => {
        await this.removeIfNotNewer([owner.id, e.key], e.version);
        this.delivered.inc();
      },
      owedElsewhere: (e) => memberIds.some((id) => this.db.doesExist([id, e.key])),
    });
  }

  /**
   * Removes a hint once `delivered` reached its owner — unless a newer write missed the same owner meanwhile and
   * replaced the hint, which must then stay for the next round.
   */
  private removeIfNotNewer(hint: HintKey, delivered: string): Promise<boolean> {
    const db = this.db;
    return db.transaction(() => {
      const pending = db.get(hint);
      if (pending === undefined || pending > delivered) return false;
      return db.removeSync(hint);
    });
  }

}
