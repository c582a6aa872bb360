import type { Readable } from 'node:stream';
import type { NodeConfig } from '../../config/app-config.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import type { Clock } from './hlc.js';
import { ManualClock } from './hlc.js';
import { LocalStoreService } from './local-store.service.js';
import { MemoryBlobStore } from './memory-blob-store.js';
import { MemoryEntryIndex } from './memory-entry-index.js';
import { MemoryHintRepository, MemoryQuarantineRepository, MemorySyncStateRepository } from './memory-repositories.js';

/** The store and its ports; the repositories are fresh memory ones for the services a spec builds beside it. */
export interface MemoryStorage {
  store: LocalStoreService;
  index: MemoryEntryIndex;
  blobs: MemoryBlobStore;
  clock: Clock;
  hints: MemoryHintRepository;
  syncState: MemorySyncStateRepository;
  quarantine: MemoryQuarantineRepository;
  metrics: MetricsService;
  config: NodeConfig;
}

/**
 * A started LocalStoreService over the memory ports, for specs: no disk, no socket, a {@link ManualClock} unless one
 * is given. Pass the `index`/`blobs` of an earlier one to "restart" over the same data. `config` fields override the
 * defaults (partitionBits 4, dataDir = the OS temp dir, read only for its free-space figure).
 */
export async function createMemoryStorage(opts: { nodeId?: string; clock?: Clock; config?: Partial<NodeConfig>; index?: MemoryEntryIndex; blobs?: MemoryBlobStore; metrics?: MetricsService } = {}): Promise<MemoryStorage> {
  const config = { role: 'node', dataDir: '/tmp', partitionBits: 4, tombstoneTtlMs: 86_400_000, ...opts.config } as NodeConfig;
  const index = opts.index ?? new MemoryEntryIndex();
  const blobs = opts.blobs ?? new MemoryBlobStore();
  const clock = opts.clock ?? new ManualClock(opts.nodeId ?? 'n1');
  const metrics = opts.metrics ?? new MetricsService();
  const store = new LocalStoreService(config, index, blobs, clock, metrics);
  await store.onModuleInit();
  return { store, index, blobs, clock, hints: new MemoryHintRepository(), syncState: new MemorySyncStateRepository(), quarantine: new MemoryQuarantineRepository(), metrics, config };
}

/** Specs: everything a stream gives before it ends or fails, and how it failed. */
export async function drainStream(stream: Readable): Promise<{ data: Buffer; error?: unknown }> {
  const parts: Buffer[] = [];
  try {
    for await (const c of stream) parts.push(c as Buffer);
    return { data: Buffer.concat(parts) };
  } catch (error) {
    return { data: Buffer.concat(parts), error };
  }
}
