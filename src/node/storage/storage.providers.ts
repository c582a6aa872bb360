import type { Provider } from '@nestjs/common';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { NodeIdentity } from '../identity/node-identity.js';
import { BLOB_STORE } from './blob-store.js';
import { DiskBlobStore } from './disk-blob-store.js';
import { ENTRY_INDEX } from './entry-index.js';
import { CLOCK, HybridLogicalClock } from './hlc.js';
import { LmdbEntryIndex } from './lmdb-entry-index.js';
import { LmdbEnvironment } from './lmdb-environment.js';
import { LmdbHintRepository, LmdbQuarantineRepository, LmdbSyncStateRepository } from './lmdb-repositories.js';
import { MemoryBlobStore } from './memory-blob-store.js';
import { MemoryEntryIndex } from './memory-entry-index.js';
import { MemoryHintRepository, MemoryQuarantineRepository, MemorySyncStateRepository } from './memory-repositories.js';
import { HINT_REPOSITORY, QUARANTINE_REPOSITORY, SYNC_STATE_REPOSITORY } from './repositories.js';

/** Closes the LMDB environment last (after HTTP requests in flight finished and background work drained). */
class LmdbLifecycle extends LmdbEnvironment {
  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }
}

/**
 * The implementations of the storage ports (LocalStoreService, the facade over them, is provided beside them).
 * `disk` (production): LMDB under DATA_DIR/meta and blob files under DATA_DIR; `memory`: the same ports in memory
 * (in-process tests; nothing touches DATA_DIR but its free-space figure). The HLC is the node's clock either way,
 * moved past the high-water mark of the index at start-up.
 */
export function storageProviders(impl: 'disk' | 'memory' = 'disk'): Provider[] {
  const ports: Provider[] =
    impl === 'disk'
      ? [
          // NodeIdentity first: loading it creates DATA_DIR.
          { provide: LmdbEnvironment, inject: [APP_CONFIG, NodeIdentity], useFactory: (config: NodeConfig) => new LmdbLifecycle(config.dataDir) },
          { provide: ENTRY_INDEX, inject: [LmdbEnvironment], useFactory: (env: LmdbEnvironment) => new LmdbEntryIndex(env) },
          { provide: HINT_REPOSITORY, inject: [LmdbEnvironment], useFactory: (env: LmdbEnvironment) => new LmdbHintRepository(env) },
          { provide: SYNC_STATE_REPOSITORY, inject: [LmdbEnvironment], useFactory: (env: LmdbEnvironment) => new LmdbSyncStateRepository(env) },
          { provide: QUARANTINE_REPOSITORY, inject: [LmdbEnvironment], useFactory: (env: LmdbEnvironment) => new LmdbQuarantineRepository(env) },
          { provide: BLOB_STORE, inject: [APP_CONFIG], useFactory: (config: NodeConfig) => new DiskBlobStore(config.dataDir) },
        ]
      : [
          { provide: ENTRY_INDEX, useFactory: () => new MemoryEntryIndex() },
          { provide: HINT_REPOSITORY, useFactory: () => new MemoryHintRepository() },
          { provide: SYNC_STATE_REPOSITORY, useFactory: () => new MemorySyncStateRepository() },
          { provide: QUARANTINE_REPOSITORY, useFactory: () => new MemoryQuarantineRepository() },
          { provide: BLOB_STORE, useFactory: () => new MemoryBlobStore() },
        ];
  return [
    ...ports,
    { provide: CLOCK, inject: [NodeIdentity], useFactory: (identity: NodeIdentity) => new HybridLogicalClock(identity.id) },
  ];
}
