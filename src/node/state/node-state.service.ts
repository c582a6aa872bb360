import { Injectable, Logger } from '@nestjs/common';
import { BehaviorSubject } from 'rxjs';
import { ShoalError } from '../../common/errors.js';
import { SyncFreshness } from './sync-freshness.js';

export type NodeLifecycle = 'starting' | 'recovering' | 'ready' | 'leaving' | 'left' | 'stopping';

/**
 * Whether this node may speak for its data. A node back from a long absence is `recovering` (DESIGN §3): it answers
 * no version queries and gives nothing to peers until it has compared every partition it owns with its co-owners.
 */
@Injectable()
export class NodeStateService {
  /** Its warning is the recovery layer's (operators and tests know it under that name). */
  private readonly logger = new Logger('RecoveryService');
  private readonly state = new BehaviorSubject<NodeLifecycle>('ready');
  /** Where the node stands in the cluster's lifecycle (DESIGN §3), apart from its own recovery. */
  private membershipPhase: 'member' | 'leaving' | 'left' = 'member';
  private stoppingFlag = false;
  private readonly stopper = new AbortController();
  private skewed = false;
  private offsets: number[] = [];

  /**
   * `freshness` tells when this node has been out of contact with its co-owners for too long. It is asked whenever
   * the state is read, not only when a sync round starts: a process that was paused serves the requests queued
   * meanwhile before any timer of its own runs, and those must already see `recovering`. Specs may leave it out.
   */
  constructor(private readonly freshness?: SyncFreshness) {}

  get current(): NodeLifecycle {
    this.recheck();
    if (this.stoppingFlag) return 'stopping';
    if (this.membershipPhase === 'left') return 'left';
    if (this.state.value === 'ready' && this.membershipPhase === 'leaving') return 'leaving';
    return this.state.value;
  }

  /**
   * SIGTERM: readiness fails first, so that a Service stops routing here while in-flight requests finish; background
   * work's peer calls are aborted ({@link stopSignal}), so that a peer stalled by a partition cannot hold the stop.
   */
  markStopping(): void {
    this.stoppingFlag = true;
    if (!this.stopper.signal.aborted) this.stopper.abort(Object.assign(new Error('this node is stopping (SIGTERM)'), { code: 'STOPPING' }));
  }

  get stopping(): boolean {
    return this.stoppingFlag;
  }

  /**
   * Aborted at SIGTERM. Background work (sync, hand-over, hints, repairs) passes it to its peer calls: a round in
   * flight ends at once instead of waiting out a stalled peer's timeouts (up to 9 s a page, an idle body forever).
   * Client requests do not: those in flight finish (DESIGN §3 Lifecycle).
   */
  get stopSignal(): AbortSignal {
    return this.stopper.signal;
  }

  /** What the registries say of this node: a decommission under way, or complete. */
  setMembershipPhase(phase: 'member' | 'leaving' | 'left'): void {
    this.membershipPhase = phase;
  }

  get left(): boolean {
    return this.membershipPhase === 'left';
  }

  /**
   * Whether this node may store a write, as an owner a peer sends it to (the `/internal` routes): not once it has
   * been decommissioned — its data now lives on its successors.
   */
  assertMayStore(): void {
    if (this.left) throw new ShoalError('NODE_LEFT', 'this node has left the cluster (decommissioned): it takes no writes; send them to another node');
  }

  /**
   * Whether this node may coordinate a client's write or delete: it must be one that may store writes
   * ({@link assertMayStore}), and its clock must be within bounds. A node whose clock is off would stamp its writes
   * with versions far from real time: a version far ahead makes every later write of the key pay for it, one far
   * behind is fenced and retried. So it coordinates no writes (reads and its replica role go on) until its clock is
   * back (DESIGN §3 Clocks).
   */
  assertMayCoordinateWrite(): void {
    this.assertMayStore();
    if (!this.skewed) return;
    throw new ShoalError(
      'CLOCK_SKEW',
      `this node's clock is off by ${this.offsets.map((o) => `${-o} ms`).join(', ')} by every registry (MAX_CLOCK_SKEW_MS exceeded); it coordinates no writes until its clock is fixed — send the write to another node`,
      { retryAfter: 5, clockOffsetMs: this.offsets },
      { 'Retry-After': '5' },
    );
  }

  get recovering(): boolean {
    this.recheck();
    return this.state.value === 'recovering';
  }

  private recheck(): void {
    if (this.state.value !== 'ready' || !this.freshness?.isStale()) return;
    this.logger.warn({ lastFullSyncAt: this.freshness.lastFullSyncAt() }, 'no complete sync within TOMBSTONE_TTL_MS: recovering before serving again');
    this.state.next('recovering');
  }

  set(next: NodeLifecycle): void {
    if (next !== this.state.value) this.state.next(next);
  }

  /** Whether every registry that answered judged this node's clock off by more than MAX_CLOCK_SKEW_MS. */
  get clockSkewed(): boolean {
    return this.skewed;
  }

  /** The registries' latest offsets for this node (their clock minus ours, ms). */
  get clockOffsets(): readonly number[] {
    return this.offsets;
  }

  setClock(skewed: boolean, offsets: number[]): void {
    this.skewed = skewed;
    this.offsets = offsets;
  }

  /** For internal routes that would otherwise hand out possibly stale or resurrected entries. */
  assertNotRecovering(): void {
    if (this.recovering) throw new ShoalError('NOT_READY', 'this node is recovering: it serves no versions until it has synchronised with its co-owners', {}, { 'Retry-After': '5' });
  }
}
