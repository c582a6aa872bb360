import { access, constants } from 'node:fs/promises';
import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { APP_CONFIG, type RegistryConfig } from '../config/app-config.js';
import { HealthController } from '../common/health/health.controller.js';
import { READINESS_CHECKS, type ReadinessCheck } from '../common/health/readiness.js';
import { MetricsModule } from '../common/metrics/metrics.module.js';
import { ClusterController } from './api/cluster.controller.js';
import { NodesController } from './api/nodes.controller.js';
import { RegistryStoreService } from './membership/registry-store.service.js';

/** ROLE=registry: the membership list, its API and the status page. */
@Module({
  imports: [MetricsModule, TerminusModule.forRoot({ logger: false })],
  controllers: [NodesController, ClusterController, HealthController],
  providers: [
    RegistryStoreService,
    {
      provide: READINESS_CHECKS,
      inject: [APP_CONFIG],
      useFactory: (config: RegistryConfig): ReadinessCheck[] => [
        {
          name: 'storage',
          check: () => access(config.dataDir, constants.W_OK).then(() => ({ ok: true }), (err: Error) => ({ ok: false, message: err.message })),
        },
      ],
    },
  ],
})
export class RegistryModule {}
