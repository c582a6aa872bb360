import { Module } from '@nestjs/common';
import { MetricsModule } from '../../common/metrics/metrics.module.js';
import { WorkersModule } from '../../common/workers/workers.module.js';
import { IdentityModule } from '../identity/identity.module.js';
import { StateModule } from '../state/state.module.js';
import { StorageModule } from '../storage/storage.module.js';
import { MembershipService } from './membership.service.js';
import { connectRegistry, REGISTRY_CONNECTOR } from './registry-client.js';

/** Registration, heartbeats (a worker) and the merged membership view of every registry that answers. */
@Module({
  imports: [IdentityModule, StorageModule, StateModule, MetricsModule, WorkersModule],
  providers: [{ provide: REGISTRY_CONNECTOR, useValue: connectRegistry }, MembershipService],
  exports: [MembershipService],
})
export class MembershipModule {}
