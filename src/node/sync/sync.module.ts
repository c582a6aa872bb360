import { Module, type OnModuleInit } from '@nestjs/common';
import { MetricsModule } from '../../common/metrics/metrics.module.js';
import { WorkersModule } from '../../common/workers/workers.module.js';
import { IdentityModule } from '../identity/identity.module.js';
import { MembershipModule } from '../membership/membership.module.js';
import { PeerModule } from '../peer/peer.module.js';
import { SyncEndpoint } from '../peer/sync-answers.js';
import { PlacementModule } from '../placement/placement.module.js';
import { ReplicationModule } from '../replication/replication.module.js';
import { StateModule } from '../state/state.module.js';
import { StorageModule } from '../storage/storage.module.js';
import { AntiEntropyService } from './anti-entropy.service.js';
import { HandoverService } from './handover.service.js';
import { RecoveryService } from './recovery.service.js';
import { SyncScheduler } from './sync.scheduler.js';
import { SyncService } from './sync.service.js';
import { TombstoneGcService } from './tombstone-gc.service.js';

/**
 * Convergence in the background (DESIGN §3 Sync): anti-entropy with co-owners, handover of partitions no longer
 * owned, tombstone GC, and start-up recovery; one round at a time on the worker runner. It serves its own
 * `/internal/sync` answers through the peer layer's endpoint.
 */
@Module({
  imports: [IdentityModule, StorageModule, StateModule, MembershipModule, PlacementModule, PeerModule, ReplicationModule, MetricsModule, WorkersModule],
  providers: [AntiEntropyService, HandoverService, TombstoneGcService, RecoveryService, SyncService, SyncScheduler],
  exports: [SyncService, RecoveryService],
})
export class SyncModule implements OnModuleInit {
  constructor(
    private readonly endpoint: SyncEndpoint,
    private readonly antiEntropy: AntiEntropyService,
  ) {}

  onModuleInit(): void {
    this.endpoint.serve(this.antiEntropy);
  }
}
