import { Module } from '@nestjs/common';
import { MetricsModule } from '../../common/metrics/metrics.module.js';
import { WorkersModule } from '../../common/workers/workers.module.js';
import { RegistryStoreService } from './registry-store.service.js';

/** The membership list: registration, heartbeats, liveness (up/down/dead), decommission; persisted in DATA_DIR. */
@Module({
  imports: [MetricsModule, WorkersModule],
  providers: [RegistryStoreService],
  exports: [RegistryStoreService],
})
export class RegistryMembershipModule {}
