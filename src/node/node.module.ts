import { access, constants } from 'node:fs/promises';
import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { APP_CONFIG, type NodeConfig } from '../config/app-config.js';
import { HealthController } from '../common/health/health.controller.js';
import { READINESS_CHECKS, type ReadinessCheck } from '../common/health/readiness.js';
import { ApiModule } from './api/api.module.js';
import { IntegrityModule } from './integrity/integrity.module.js';
import { MembershipModule } from './membership/membership.module.js';
import { MembershipService } from './membership/membership.service.js';
import { S3Module } from './s3/s3.module.js';
import { NodeStateService } from './state/node-state.service.js';
import { StateModule } from './state/state.module.js';
import { SyncModule } from './sync/sync.module.js';

/** Liveness and readiness (GET /health/live, /health/ready): storage writable, membership known, not recovering or stopping. */
@Module({
  imports: [TerminusModule.forRoot({ logger: false }), StateModule, MembershipModule],
  controllers: [HealthController],
  providers: [
    {
      provide: READINESS_CHECKS,
      inject: [APP_CONFIG, MembershipService, NodeStateService],
      useFactory: (config: NodeConfig, membership: MembershipService, state: NodeStateService): ReadinessCheck[] => [
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
})
class NodeHealthModule {}

/**
 * ROLE=node, as layers (docs/architecture.md): storage → state → membership → placement → peer → replication →
 * sync and integrity → the front ends (api, s3). Each layer is a module that exports only its public face and imports
 * only layers below it; this module puts the top ones together (the client API first, so that it leads the OpenAPI
 * document) and adds health.
 */
@Module({ imports: [ApiModule, S3Module, SyncModule, IntegrityModule, NodeHealthModule] })
export class NodeModule {}
