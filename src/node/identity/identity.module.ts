import { Module } from '@nestjs/common';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { loadNodeIdentity, NodeIdentity } from './node-identity.js';

/** Who this node is (NODE_ID, its advertised URL), loaded once from DATA_DIR; the bottom of every layer. */
@Module({
  providers: [{ provide: NodeIdentity, inject: [APP_CONFIG], useFactory: (config: NodeConfig) => loadNodeIdentity(config) }],
  exports: [NodeIdentity],
})
export class IdentityModule {}
