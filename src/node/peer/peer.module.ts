import { Module } from '@nestjs/common';
import { MetricsModule } from '../../common/metrics/metrics.module.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { StateModule } from '../state/state.module.js';
import { StorageModule } from '../storage/storage.module.js';
import { BatchingPeerClient } from './batching-peer-client.js';
import { HttpPeerClient } from './http-peer-client.js';
import { InternalController } from './internal.controller.js';
import { InternalService } from './internal.service.js';
import { PEER_CLIENT } from './peer-client.js';
import { SyncEndpoint } from './sync-answers.js';
import { SyncInternalController } from './sync-internal.controller.js';

/**
 * The node↔node protocol, both sides: the client the layers above inject under PEER_CLIENT (HTTP here, a fake in
 * specs), its wire types, and the `/internal` routes that serve it — from the store directly, and for anti-entropy
 * through the {@link SyncEndpoint} the sync layer hands its answers to. Calls go out through the batching client,
 * which coalesces small writes, fence proposals and read version queries per peer.
 */
@Module({
  imports: [StorageModule, StateModule, MetricsModule],
  controllers: [InternalController, SyncInternalController],
  providers: [HttpPeerClient, { provide: PEER_CLIENT, useFactory: batchingClient, inject: [HttpPeerClient, MetricsService] }, InternalService, SyncEndpoint],
  exports: [PEER_CLIENT, SyncEndpoint],
})
export class PeerModule {}

function batchingClient(http: HttpPeerClient, metrics: MetricsService): BatchingPeerClient {
  const sizes = metrics.histogram({
    name: 'shoal_peer_batch_items',
    help: 'items per batched node-to-node request (small entries, fence proposals, version queries)',
    labelNames: ['kind'],
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
  });
  return new BatchingPeerClient(http, undefined, (kind, n) => sizes.observe({ kind }, n));
}
