import { Injectable, Logger } from '@nestjs/common';
import { ShoalError } from '../../common/errors.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { NodeIdentity } from '../identity/node-identity.js';
import type { Member } from '../membership/merge.js';
import { NodeStateService } from '../state/node-state.service.js';
import type { Version } from '../storage/hlc.js';
import { LocalStoreService } from '../storage/local-store.service.js';
import { highestBlocking, type FenceAnswer } from './fencing.js';
import { PeerClientService, peerError } from './peer-client.service.js';
import { firstSuccesses } from './quorum.js';

/** Proposals per write before giving up (each retry follows a write that raced this one on the same key). */
const MAX_ATTEMPTS = 5;
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
    private readonly peers: PeerClientService,
    private readonly state: NodeStateService,
    metrics: MetricsService,
  ) {
    this.retries = metrics.counter({ name: 'shoal_fenced_retries_total', help: 'write versions proposed again because an owner held a newer one' });
  }

  /**
   * A version for a new write of `key` that W owners accepted (each held only older ones when asked). Throws 503
   * INSUFFICIENT_REPLICAS when fewer than W owners answer — nothing has been written then — and 503 WRITE_CONFLICT
   * when concurrent writes of the same key kept overtaking it.
   */
  async claim(key: string, owners: Member[], w: number): Promise<Version> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const proposed = this.store.newVersion();
      const answers = await this.round(key, proposed, owners, w);
      const blocking = highestBlocking(answers, proposed);
      if (blocking === undefined) return proposed;
      this.retries.inc();
      this.logger.debug({ key, proposed, blocking, attempt }, 'an owner holds a newer version; proposing again above it');
      this.store.clock.observe(blocking);
    }
    throw new ShoalError('WRITE_CONFLICT', `concurrent writes of "${key}" kept overtaking this one; nothing was written`, { retryAfter: 1 }, { 'Retry-After': '1' });
  }

  /** Asks every reachable owner at once; resolves with the answers in hand once W have answered. */
  private async round(key: string, proposed: Version, owners: Member[], w: number): Promise<FenceAnswer[]> {
    const tasks = owners.flatMap((o): Promise<FenceAnswer>[] => {
      if (o.id === this.self.id) {
        // A recovering node may miss writes it was away for: its own word does not count towards W.
        if (this.state.recovering) return [];
        return [Promise.resolve({ held: this.store.get(key)?.version ?? null })];
      }
      if (o.status !== 'up') return [];
      return [this.peers.fence(o.url, key, proposed, FENCE_TIMEOUT_MS)];
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
