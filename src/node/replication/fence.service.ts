import { Inject, Injectable, Logger } from '@nestjs/common';
import { ShoalError } from '../../common/errors.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { NodeIdentity } from '../identity/node-identity.js';
import type { Member } from '../membership/merge.js';
import { NodeStateService } from '../state/node-state.service.js';
import type { Version } from '../storage/hlc.js';
import { LocalStoreService } from '../storage/local-store.service.js';
import { highestBlocking, newestHeld, type FenceAnswer, type WriteCondition } from './fencing.js';
import { PEER_CLIENT, peerError, type PeerClient } from '../peer/peer-client.js';
import { firstSuccesses } from './quorum.js';

/** Proposals per write before giving up (each retry follows a write that raced this one on the same key). */
const MAX_ATTEMPTS = 5;
/** Claims of a conditional write that found its key granted to another before it gives up (409). */
const CONFLICT_ATTEMPTS = 4;

/** Fewer than W owners granted a conditional write its key; `cause` is the caller's error to answer with. */
class ConditionConflict extends Error {
  constructor(override readonly cause: Error) {
    super(cause.message);
  }
}
/**
 * An owner that does not answer the proposal in this time counts as unreachable. Short on purpose: this round runs
 * before the body is read, so a coordinator cut off from its peers refuses the write within seconds (DESIGN §3).
 */
export const FENCE_TIMEOUT_MS = 2000;

/**
 * Claims the version of a coordinator's new write or delete (see fencing.ts): proposes a version to the key's
 * owners and retries above whatever newer version one of them holds, until W owners accept it.
 */
@Injectable()
export class FenceService {
  private readonly logger = new Logger(FenceService.name);
  private readonly retries;

  constructor(
    private readonly self: NodeIdentity,
    private readonly store: LocalStoreService,
    @Inject(PEER_CLIENT) private readonly peers: PeerClient,
    private readonly state: NodeStateService,
    metrics: MetricsService,
  ) {
    this.retries = metrics.counter({ name: 'shoal_fenced_retries_total', help: 'write versions proposed again because an owner held a newer one' });
  }

  /**
   * A version for a new write of `key` that W owners accepted (each held only older ones when asked). Throws 503
   * INSUFFICIENT_REPLICAS when fewer than W owners answer — nothing has been written then — and 503 WRITE_CONFLICT
   * when concurrent writes of the same key kept overtaking it. With a `condition`, the claim also reserves the key on
   * W owners and judges the newest version they hold (fencing.ts WriteCondition); its grants are given up when the
   * claim fails, and by the owners' legs once the write ends.
   */
  async claim(key: string, owners: Member[], w: number, condition?: WriteCondition): Promise<Version> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.claimOnce(key, owners, w, condition);
      } catch (err) {
        if (!condition) throw err;
        this.release(key, owners, condition.token);
        // Conditional writers racing may split the grants so that none holds W: each gives its up and tries again
        // after a random pause, so that one of them usually gets through before the client hears 409.
        if (!(err instanceof ConditionConflict) || attempt >= CONFLICT_ATTEMPTS) throw err instanceof ConditionConflict ? err.cause : err;
        await new Promise((r) => setTimeout(r, 10 + Math.random() * 40 * attempt));
      }
    }
  }

  /**
   * Gives up a conditional write's grants (its claim or its write failed): at once here, and on the other owners
   * with a last proposal that says so (fire and forget: a grant lapses by itself anyway).
   */
  release(key: string, owners: Member[], token: string): void {
    this.store.reservations.release(key, token);
    for (const o of owners) {
      if (o.id === this.self.id || o.status !== 'up') continue;
      this.peers.fence(o, key, this.store.clock.now(), FENCE_TIMEOUT_MS, token, true).catch(() => undefined);
    }
  }

  private async claimOnce(key: string, owners: Member[], w: number, condition?: WriteCondition): Promise<Version> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const proposed = this.store.clock.now();
      const answers = await this.round(key, proposed, owners, w, condition?.token);
      if (condition && answers.filter((a) => a.reserved).length < w) throw new ConditionConflict(condition.conflict());
      const blocking = highestBlocking(answers, proposed);
      if (blocking === undefined) {
        condition?.check(newestHeld(answers));
        return proposed;
      }
      this.retries.inc();
      this.logger.debug({ key, proposed, blocking, attempt }, 'an owner holds a newer version; proposing again above it');
      this.store.clock.observe(blocking);
    }
    throw new ShoalError('WRITE_CONFLICT', `concurrent writes of "${key}" kept overtaking this one; nothing was written`, { retryAfter: 1 }, { 'Retry-After': '1' });
  }

  /** Asks every reachable owner at once; resolves with the answers in hand once W have answered. */
  private async round(key: string, proposed: Version, owners: Member[], w: number, reserve?: string): Promise<FenceAnswer[]> {
    const tasks = owners.flatMap((o): Promise<FenceAnswer>[] => {
      if (o.id === this.self.id) {
        // A recovering node may miss writes it was away for: its own word does not count towards W.
        if (this.state.recovering) return [];
        const held = this.store.get(key);
        const answer: FenceAnswer = { held: held?.version ?? null, deleted: held?.deleted ?? false };
        if (reserve !== undefined) answer.reserved = this.store.reservations.reserve(key, reserve, proposed);
        return [Promise.resolve(answer)];
      }
      if (o.status !== 'up') return [];
      return [this.peers.fence(o, key, proposed, FENCE_TIMEOUT_MS, reserve)];
    });
    // Answers that arrive together with the W-th are used too: the more owners seen, the fewer retries later.
    const answered: FenceAnswer[] = [];
    for (const t of tasks) t.then((a) => answered.push(a), () => undefined);
    try {
      await firstSuccesses(tasks, w).quorum;
    } catch (err) {
      throw new ShoalError('INSUFFICIENT_REPLICAS', `fewer than ${w} owners of this key answered (${peerError(err)}); nothing was written`, { retryAfter: 2 }, { 'Retry-After': '2' });
    }
    return [...answered];
  }
}
