import { type DynamicModule, Module } from '@nestjs/common';
import type { AppConfig } from './config/app-config.js';
import { ConfigModule } from './config/config.module.js';
import { DirectRoutesModule } from './common/http/direct-routes.module.js';
import { LoggingModule } from './common/logging/logging.module.js';
import { NodeModule } from './node/node.module.js';
import { RegistryModule } from './registry/registry.module.js';

/** The root: config, logging and the direct-route table for every role, then the role's own module and nothing of the other. */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggingModule.forRoot(config.logLevel, { role: config.role }),
        DirectRoutesModule,
        config.role === 'registry' ? RegistryModule : NodeModule,
      ],
    };
  }
}
