import { Injectable } from '@nestjs/common';
import { BehaviorSubject } from 'rxjs';
import { ShoalError } from '../../common/errors.js';

export type NodeLifecycle = 'starting' | 'recovering' | 'ready';

/**
 * Whether this node may speak for its data. A node back from a long absence is `recovering` (DESIGN §3): it answers
 * no version queries and gives nothing to peers until it has compared every partition it owns with its co-owners.
 */
@Injectable()
export class NodeStateService {
  private readonly state = new BehaviorSubject<NodeLifecycle>('ready');
  private staleCheck?: () => boolean;

  get current(): NodeLifecycle {
    this.recheck();
    return this.state.value;
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

  /** For internal routes that would otherwise hand out possibly stale or resurrected entries. */
  assertNotRecovering(): void {
    if (this.recovering) throw new ShoalError('NOT_READY', 'this node is recovering: it serves no versions until it has synchronised with its co-owners', {}, { 'Retry-After': '5' });
  }
}
