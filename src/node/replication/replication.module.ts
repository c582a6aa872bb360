import { Module } from '@nestjs/common';
import { MetricsModule } from '../../common/metrics/metrics.module.js';
import { WorkersModule } from '../../common/workers/workers.module.js';
import { IdentityModule } from '../identity/identity.module.js';
import { MembershipModule } from '../membership/membership.module.js';
import { PeerModule } from '../peer/peer.module.js';
import { PlacementModule } from '../placement/placement.module.js';
import { StateModule } from '../state/state.module.js';
import { StorageModule } from '../storage/storage.module.js';
import { DeliveryService } from './delivery.service.js';
import { FenceService } from './fence.service.js';
import { HandoffService } from './handoff.service.js';
import { ListingService } from './listing.service.js';
import { ManifestService } from './manifest.service.js';
import { OutboxService } from './outbox.service.js';
import { ReadCoordinatorService } from './read-coordinator.service.js';
import { ReadRepairService } from './read-repair.service.js';
import { ReplicatorService } from './replicator.service.js';
import { WriteAdmissionService } from './write-admission.service.js';
import { WriteCoordinatorService } from './write-coordinator.service.js';

/**
 * Coordination (DESIGN §3): fenced writes to W of N owners, reads from R, read-repair, hinted handoff, cluster-wide
 * listing and multipart manifests. Front ends (the /v1 API, S3) call the coordinators, the listing and the
 * manifests; the sync layer shares the outbox; node info reads the handoff backlog. The rest stays inside.
 */
@Module({
  imports: [IdentityModule, StorageModule, StateModule, MembershipModule, PlacementModule, PeerModule, MetricsModule, WorkersModule],
  providers: [
    DeliveryService,
    OutboxService,
    HandoffService,
    FenceService,
    ReplicatorService,
    WriteAdmissionService,
    WriteCoordinatorService,
    ReadRepairService,
    ReadCoordinatorService,
    ListingService,
    ManifestService,
  ],
  exports: [WriteCoordinatorService, ReadCoordinatorService, ListingService, ManifestService, OutboxService, HandoffService],
})
export class ReplicationModule {}
