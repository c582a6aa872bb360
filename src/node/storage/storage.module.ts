import { Module } from '@nestjs/common';
import { MetricsModule } from '../../common/metrics/metrics.module.js';
import { WorkersModule } from '../../common/workers/workers.module.js';
import { IdentityModule } from '../identity/identity.module.js';
import { NODE_STATS } from './node-stats.js';
import { ENTRY_INDEX } from './entry-index.js';
import { CLOCK } from './hlc.js';
import { LocalStoreService } from './local-store.service.js';
import { PackCompactionService } from './pack-compaction.service.js';
import { HINT_REPOSITORY, QUARANTINE_REPOSITORY, SYNC_STATE_REPOSITORY } from './repositories.js';
import { storageProviders } from './storage.providers.js';

/**
 * The storage layer: entries and blobs behind their ports (LMDB and files on disk), the typed repositories of the
 * layers above, and the node's clock. Its public face is the LocalStoreService facade (blob + entry under one lock),
 * the read-only entry index, the repositories, the clock and the NODE_STATS figures; the LMDB environment, blob
 * files, pack files (and their compaction worker) and staging stay inside. Imports nothing of replication, sync or peer.
 */
@Module({
  imports: [IdentityModule, MetricsModule, WorkersModule],
  providers: [...storageProviders('disk'), LocalStoreService, PackCompactionService, { provide: NODE_STATS, useExisting: LocalStoreService }],
  exports: [LocalStoreService, NODE_STATS, ENTRY_INDEX, CLOCK, HINT_REPOSITORY, SYNC_STATE_REPOSITORY, QUARANTINE_REPOSITORY],
})
export class StorageModule {}
