import { Module } from '@nestjs/common';
import { MetricsModule } from '../../common/metrics/metrics.module.js';
import { WorkersModule } from '../../common/workers/workers.module.js';
import { IdentityModule } from '../identity/identity.module.js';
import { PeerModule } from '../peer/peer.module.js';
import { PlacementModule } from '../placement/placement.module.js';
import { StateModule } from '../state/state.module.js';
import { StorageModule } from '../storage/storage.module.js';
import { BlobRepairService } from './blob-repair.service.js';
import { ScrubService } from './scrub.service.js';

/**
 * Bit rot (DESIGN §4): the scrubber re-hashes every blob in the background (a worker that yields to clients), and
 * blob repair re-fetches from an owner whatever a read or the scrubber found corrupt. Nothing above depends on it.
 */
@Module({
  imports: [IdentityModule, StorageModule, PlacementModule, PeerModule, StateModule, MetricsModule, WorkersModule],
  providers: [ScrubService, BlobRepairService],
})
export class IntegrityModule {}
