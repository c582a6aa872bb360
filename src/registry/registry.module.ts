import { access, constants } from 'node:fs/promises';
import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { APP_CONFIG, type RegistryConfig } from '../config/app-config.js';
import { HealthController } from '../common/health/health.controller.js';
import { READINESS_CHECKS, type ReadinessCheck } from '../common/health/readiness.js';
import { RegistryApiModule } from './api/registry-api.module.js';
import { RegistryMembershipModule } from './membership/registry-membership.module.js';

/** Liveness and readiness of a registry: its DATA_DIR is writable. */
@Module({
  imports: [TerminusModule.forRoot({ logger: false })],
  controllers: [HealthController],
  providers: [
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
class RegistryHealthModule {}

/** ROLE=registry: the membership list, its API and the status page, and health. */
@Module({ imports: [RegistryApiModule, RegistryMembershipModule, RegistryHealthModule] })
export class RegistryModule {}
