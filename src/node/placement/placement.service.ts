import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { NodeIdentity } from '../identity/node-identity.js';
import type { Member } from '../membership/merge.js';
import { MembershipService } from '../membership/membership.service.js';
import { partitionOf } from './partition.js';
import { effectiveQuorums, ownersOf, type Quorums } from './placement.js';

/**
 * Owners of every partition under the current membership, recomputed when membership changes (ids, urls or status)
 * rather than per request. Until a membership list is known, this node alone owns everything.
 */
@Injectable()
export class PlacementService implements OnModuleDestroy {
  private table: Member[][] = [];
  private quorums: Quorums;
  private readonly sub: Subscription;
  readonly partitionCount: number;

  constructor(
    @Inject(APP_CONFIG) private readonly config: NodeConfig,
    private readonly self: NodeIdentity,
    membership: MembershipService,
  ) {
    this.partitionCount = 2 ** config.partitionBits;
    this.quorums = { n: 1, w: 1, r: 1 };
    this.sub = membership.changes.subscribe((members) => this.rebuild(members));
  }

  onModuleDestroy(): void {
    this.sub.unsubscribe();
  }

  partitionOf(key: string): number {
    return partitionOf(key, this.config.partitionBits);
  }

  /** The N owners of the key's partition (non-dead members; some may be `down`). */
  ownersOfKey(key: string): Member[] {
    return this.ownersOfPartition(this.partitionOf(key));
  }

  ownersOfPartition(partition: number): Member[] {
    return this.table[partition] ?? [this.selfMember()];
  }

  isOwner(partition: number, nodeId = this.self.id): boolean {
    return this.ownersOfPartition(partition).some((m) => m.id === nodeId);
  }

  /** The partitions this node owns under the current membership. */
  ownedPartitions(): number[] {
    const out: number[] = [];
    for (let p = 0; p < this.partitionCount; p++) if (this.isOwner(p)) out.push(p);
    return out;
  }

  /** N, W and R capped at the number of non-dead nodes. */
  effective(): Quorums {
    return this.quorums;
  }

  private rebuild(members: Member[]): void {
    let live = members.filter((m) => m.status !== 'dead');
    // This node always takes part in its own placement, even before the registry lists it.
    if (!live.some((m) => m.id === this.self.id)) live = [...live, this.selfMember()];
    this.quorums = effectiveQuorums({ n: this.config.replicationFactor, w: this.config.writeQuorum, r: this.config.readQuorum }, live.length);
    const table: Member[][] = new Array(this.partitionCount);
    for (let p = 0; p < this.partitionCount; p++) table[p] = ownersOf(p, live, this.quorums.n);
    this.table = table;
  }

  private selfMember(): Member {
    return { id: this.self.id, url: this.self.url, status: 'up', lastHeartbeatAt: new Date().toISOString(), freeBytes: 0, files: 0 };
  }
}
