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

  get current(): NodeLifecycle {
    return this.state.value;
  }

  get recovering(): boolean {
    return this.state.value === 'recovering';
  }

  set(next: NodeLifecycle): void {
    if (next !== this.state.value) this.state.next(next);
  }

  /** For internal routes that would otherwise hand out possibly stale or resurrected entries. */
  assertNotRecovering(): void {
    if (this.recovering) throw new ShoalError('NOT_READY', 'this node is recovering: it serves no versions until it has synchronised with its co-owners', {}, { 'Retry-After': '5' });
  }
}
