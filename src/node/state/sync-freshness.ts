import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { ENTRY_INDEX, type EntryReader } from '../storage/entry-index.js';
import { CLOCK, type Clock } from '../storage/hlc.js';
import { SYNC_STATE_REPOSITORY, type SyncStateRepository } from '../storage/repositories.js';

/**
 * How long ago this node last compared every partition it owns with its co-owners, and whether that is too long
 * (DESIGN §3 Tombstone GC). The sync layer's recovery records complete comparisons here; the node state asks it on
 * every read. It sits below both, so neither reaches up into the other through a hook. The time on disk
 * (SyncStateRepository) is read at construction, before anything can ask for the node state.
 */
@Injectable()
export class SyncFreshness {
  /** In memory: it is checked on every read of the node state. */
  private last?: number;

  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<NodeConfig, 'tombstoneTtlMs'>,
    @Inject(ENTRY_INDEX) private readonly index: Pick<EntryReader, 'entryCount'>,
    @Inject(CLOCK) private readonly clock: Pick<Clock, 'wallMs'>,
    @Inject(SYNC_STATE_REPOSITORY) private readonly repo: SyncStateRepository,
  ) {
    this.last = repo.get()?.lastFullSyncAt;
  }

  lastFullSyncAt(): number | undefined {
    return this.last;
  }

  /** A comparison with the co-owners of every owned partition that started at `at` has completed. */
  record(at: number): void {
    this.last = at;
  }

  /** The time last written to disk (what the next start-up will judge by). */
  persistedAt(): number | undefined {
    return this.repo.get()?.lastFullSyncAt;
  }

  async persist(at: number): Promise<void> {
    await this.repo.put({ lastFullSyncAt: at });
  }

  /** True when this node holds data and has not completed a comparison with its co-owners within the TTL. */
  isStale(now = this.clock.wallMs()): boolean {
    const last = this.last;
    if (last === undefined) return this.index.entryCount() > 0;
    return now - last > this.config.tombstoneTtlMs;
  }
}
