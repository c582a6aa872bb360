import { Module } from '@nestjs/common';
import { StorageModule } from '../storage/storage.module.js';
import { NodeStateService } from './node-state.service.js';
import { SyncFreshness } from './sync-freshness.js';

/** The node's lifecycle state (starting, recovering, ready, stopping, leaving, left) and the guards derived from it. */
@Module({
  imports: [StorageModule],
  providers: [SyncFreshness, NodeStateService],
  exports: [NodeStateService, SyncFreshness],
})
export class StateModule {}
