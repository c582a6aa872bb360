import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { NodeIdentity } from '../identity/node-identity.js';
import { OWNING_STATUSES } from '../../common/protocol/membership.dto.js';
import type { Member } from '../membership/merge.js';
import { MembershipService } from '../membership/membership.service.js';
import { partitionOf } from '../storage/partition.js';
import { effectiveQuorums, leavingHolders, ownersOf, type Quorums } from './placement.js';

/**
 * Owners of every partition under the current membership, recomputed when membership changes (ids, urls or status)
 * rather than per request. Until a membership list is known, this node alone owns everything.
 */
@Injectable()
export class PlacementService implements OnModuleDestroy {
  private table: Member[][] = [];
  /** Per partition, the leaving nodes that would own it without their decommission: they still hold its data. */
  private leavingTable: Member[][] = [];
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

  /** The N owners of the key's partition (owning members; some may be `down` or `stopped`). */
  ownersOfKey(key: string): Member[] {
    return this.ownersOfPartition(this.partitionOf(key));
  }

  ownersOfPartition(partition: number): Member[] {
    return this.table[partition] ?? [this.selfMember()];
  }

  /**
   * Leaving nodes that owned the key's partition before their decommission. Until they have handed it over they hold
   * copies the new owners may still lack, so reads consult them too (DESIGN §3 Lifecycle).
   */
  leavingHoldersOfKey(key: string): Member[] {
    return this.leavingTable[this.partitionOf(key)] ?? [];
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

  /** N, W and R capped at the number of owning nodes. */
  effective(): Quorums {
    return this.quorums;
  }

  private rebuild(members: Member[]): void {
    // Owners are the members that keep their place: up, down, stopped. Dead, leaving and left nodes own nothing.
    let live = members.filter((m) => OWNING_STATUSES.has(m.status));
    // This node takes part in its own placement even before the registry lists it (but not once it is leaving).
    if (!members.some((m) => m.id === this.self.id)) live = [...live, this.selfMember()];
    if (live.length === 0) live = [this.selfMember()]; // a lone leaving node still places its own writes somewhere
    this.quorums = effectiveQuorums({ n: this.config.replicationFactor, w: this.config.writeQuorum, r: this.config.readQuorum }, live.length);
    const table: Member[][] = new Array(this.partitionCount);
    for (let p = 0; p < this.partitionCount; p++) table[p] = ownersOf(p, live, this.quorums.n);
    this.table = table;
    const leaving = members.filter((m) => m.status === 'leaving');
    const n = effectiveQuorums({ n: this.config.replicationFactor, w: 1, r: 1 }, live.length + leaving.length).n;
    this.leavingTable = leaving.length === 0 ? [] : Array.from({ length: this.partitionCount }, (_, p) => leavingHolders(p, live, leaving, n));
  }

  private selfMember(): Member {
    return { id: this.self.id, url: this.self.url, ...(this.config.zone ? { zone: this.config.zone } : {}), status: 'up', lastHeartbeatAt: new Date().toISOString(), freeBytes: 0, files: 0 };
  }
}
