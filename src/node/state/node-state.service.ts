import { Injectable } from '@nestjs/common';
import { BehaviorSubject } from 'rxjs';
import { ShoalError } from '../../common/errors.js';

export type NodeLifecycle = 'starting' | 'recovering' | 'ready' | 'leaving' | 'left' | 'stopping';

/**
 * Whether this node may speak for its data. A node back from a long absence is `recovering` (DESIGN §3): it answers
 * no version queries and gives nothing to peers until it has compared every partition it owns with its co-owners.
 */
@Injectable()
export class NodeStateService {
  private readonly state = new BehaviorSubject<NodeLifecycle>('ready');
  private staleCheck?: () => boolean;
  /** Where the node stands in the cluster's lifecycle (DESIGN §3), apart from its own recovery. */
  private membershipPhase: 'member' | 'leaving' | 'left' = 'member';
  private stoppingFlag = false;
  private skewed = false;
  private offsets: number[] = [];

  get current(): NodeLifecycle {
    this.recheck();
    if (this.stoppingFlag) return 'stopping';
    if (this.membershipPhase === 'left') return 'left';
    if (this.state.value === 'ready' && this.membershipPhase === 'leaving') return 'leaving';
    return this.state.value;
  }

  /** SIGTERM: readiness fails first, so that a Service stops routing here while in-flight requests finish. */
  markStopping(): void {
    this.stoppingFlag = true;
  }

  get stopping(): boolean {
    return this.stoppingFlag;
  }

  /** What the registries say of this node: a decommission under way, or complete. */
  setMembershipPhase(phase: 'member' | 'leaving' | 'left'): void {
    this.membershipPhase = phase;
  }

  get left(): boolean {
    return this.membershipPhase === 'left';
  }

  /** A decommissioned node takes no writes, from clients or peers (its data now lives on its successors). */
  assertMayWrite(): void {
    if (this.left) throw new ShoalError('NODE_LEFT', 'this node has left the cluster (decommissioned): it takes no writes; send them to another node');
  }

  get recovering(): boolean {
    this.recheck();
    return this.state.value === 'recovering';
  }

  /**
   * How to tell that this node has been out of contact with its co-owners for too long (the recovery layer knows).
   * It is asked whenever the state is read, not only when a sync round starts: a process that was paused serves the
   * requests queued meanwhile before any timer of its own runs, and those must already see `recovering`.
   */
  watchStaleness(check: () => boolean): void {
    this.staleCheck = check;
  }

  private recheck(): void {
    if (this.state.value === 'ready' && this.staleCheck?.()) this.state.next('recovering');
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

  /**
   * A node whose clock is off would stamp its writes with versions far from real time: a version far ahead makes
   * every later write of the key pay for it, one far behind is fenced and retried. So it coordinates no writes
   * (reads and its replica role go on) until its clock is back (DESIGN §3 Clocks).
   */
  assertClockInBounds(): void {
    if (!this.skewed) return;
    throw new ShoalError(
      'CLOCK_SKEW',
      `this node's clock is off by ${this.offsets.map((o) => `${-o} ms`).join(', ')} by every registry (MAX_CLOCK_SKEW_MS exceeded); it coordinates no writes until its clock is fixed — send the write to another node`,
      { retryAfter: 5, clockOffsetMs: this.offsets },
      { 'Retry-After': '5' },
    );
  }

  /** For internal routes that would otherwise hand out possibly stale or resurrected entries. */
  assertNotRecovering(): void {
    if (this.recovering) throw new ShoalError('NOT_READY', 'this node is recovering: it serves no versions until it has synchronised with its co-owners', {}, { 'Retry-After': '5' });
  }
}
