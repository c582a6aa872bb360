import { access, constants } from 'node:fs/promises';
import { type DynamicModule, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import type { NodeConfig } from '../config/app-config.js';
import { HealthController } from '../common/health/health.controller.js';
import { READINESS_CHECKS, type ReadinessCheck } from '../common/health/readiness.js';
import { MetricsModule } from '../common/metrics/metrics.module.js';
import { FilesController } from './api/files.controller.js';
import { FilesService } from './api/files.service.js';
import { NodeInfoController } from './api/node-info.controller.js';
import { NodeInfoService } from './api/node-info.service.js';
import { loadNodeIdentity, NodeIdentity } from './identity/node-identity.js';
import { InternalController } from './internal/internal.controller.js';
import { InternalService } from './internal/internal.service.js';
import { MembershipService } from './membership/membership.service.js';
import { NODE_STATS } from './membership/node-stats.js';
import { PlacementService } from './placement/placement.service.js';
import { CoordinatorService } from './replication/coordinator.service.js';
import { DeliveryService } from './replication/delivery.service.js';
import { FenceService } from './replication/fence.service.js';
import { HandoffService } from './replication/handoff.service.js';
import { ListingService } from './replication/listing.service.js';
import { ManifestService } from './replication/manifest.service.js';
import { PeerClientService } from './replication/peer-client.service.js';
import { ReplicatorService } from './replication/replicator.service.js';
import { S3_PROVIDERS } from './s3/s3.providers.js';
import { LocalStoreService } from './storage/local-store.service.js';
import { NodeStateService } from './state/node-state.service.js';
import { AntiEntropyService } from './sync/anti-entropy.service.js';
import { BlobRepairService } from './sync/blob-repair.service.js';
import { HandoverService } from './sync/handover.service.js';
import { RecoveryService } from './sync/recovery.service.js';
import { ScrubService } from './sync/scrub.service.js';
import { SyncInternalController } from './sync/sync-internal.controller.js';
import { SyncService } from './sync/sync.service.js';
import { SyncScheduler } from './sync/sync.scheduler.js';
import { TombstoneGcService } from './sync/tombstone-gc.service.js';

/** ROLE=node: local storage, membership, placement, replication, the client API and (on S3_PORT) the S3 API. */
@Module({})
export class NodeModule {
  static forRoot(config: NodeConfig): DynamicModule {
    return {
      module: NodeModule,
      imports: [MetricsModule, TerminusModule.forRoot({ logger: false })],
      controllers: [FilesController, NodeInfoController, InternalController, SyncInternalController, HealthController],
      providers: [
        { provide: NodeIdentity, useFactory: () => loadNodeIdentity(config) },
        LocalStoreService,
        { provide: NODE_STATS, useExisting: LocalStoreService },
        MembershipService,
        PlacementService,
        PeerClientService,
        DeliveryService,
        HandoffService,
        FenceService,
        ReplicatorService,
        CoordinatorService,
        ListingService,
        ManifestService,
        FilesService,
        NodeInfoService,
        InternalService,
        NodeStateService,
        AntiEntropyService,
        HandoverService,
        TombstoneGcService,
        RecoveryService,
        BlobRepairService,
        ScrubService,
        SyncService,
        SyncScheduler,
        ...S3_PROVIDERS,
        {
          provide: READINESS_CHECKS,
          inject: [MembershipService, NodeStateService],
          useFactory: (membership: MembershipService, state: NodeStateService): ReadinessCheck[] => [
            {
              name: 'storage',
              check: () => access(config.dataDir, constants.W_OK).then(() => ({ ok: true }), (err: Error) => ({ ok: false, message: err.message })),
            },
            { name: 'membership', check: async () => ({ ok: membership.isKnown(), members: membership.members().length }) },
            { name: 'sync', check: async () => ({ ok: !state.recovering, state: state.current }) },
            // Stopping (SIGTERM) fails readiness first, so a Service stops routing here; a node that left takes no writes.
            { name: 'lifecycle', check: async () => ({ ok: !state.stopping && !state.left, state: state.current }) },
          ],
        },
      ],
    };
  }
}
