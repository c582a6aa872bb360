import { Module } from '@nestjs/common';
import { IdentityModule } from '../identity/identity.module.js';
import { NODE_INFO_SECTIONS, type NodeInfoSection } from '../info/node-info-section.js';
import { membershipInfo } from '../membership/membership.info.js';
import { MembershipModule } from '../membership/membership.module.js';
import { MembershipService } from '../membership/membership.service.js';
import { NODE_STATS, type NodeStatsSource } from '../storage/node-stats.js';
import { NodeIdentity } from '../identity/node-identity.js';
import { placementInfo } from '../placement/placement.info.js';
import { PlacementModule } from '../placement/placement.module.js';
import { PlacementService } from '../placement/placement.service.js';
import { HandoffService } from '../replication/handoff.service.js';
import { replicationInfo } from '../replication/replication.info.js';
import { ReplicationModule } from '../replication/replication.module.js';
import { NodeStateService } from '../state/node-state.service.js';
import { StateModule } from '../state/state.module.js';
import { storageInfo } from '../storage/storage.info.js';
import { StorageModule } from '../storage/storage.module.js';
import { syncInfo } from '../sync/sync.info.js';
import { SyncModule } from '../sync/sync.module.js';
import { SyncService } from '../sync/sync.service.js';
import { FilesController } from './files.controller.js';
import { FilesService } from './files.service.js';
import { NodeInfoController } from './node-info.controller.js';
import { NodeInfoService } from './node-info.service.js';

/** The client API (/v1, DESIGN §2): files over the coordinators, and GET /v1/node assembled from every layer's report. */
@Module({
  imports: [IdentityModule, StorageModule, StateModule, MembershipModule, PlacementModule, ReplicationModule, SyncModule],
  controllers: [FilesController, NodeInfoController],
  providers: [
    FilesService,
    NodeInfoService,
    {
      // GET /v1/node: each layer describes itself; NodeInfoService only assembles.
      provide: NODE_INFO_SECTIONS,
      inject: [NodeIdentity, MembershipService, NodeStateService, NODE_STATS, PlacementService, HandoffService, SyncService],
      useFactory: (self: NodeIdentity, membership: MembershipService, state: NodeStateService, stats: NodeStatsSource, placement: PlacementService, handoff: HandoffService, sync: SyncService): NodeInfoSection[] => [
        membershipInfo(self, membership, state),
        storageInfo(stats),
        placementInfo(placement),
        replicationInfo(handoff),
        syncInfo(sync),
      ],
    },
  ],
})
export class ApiModule {}
