import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { LocalStoreService } from '../storage/local-store.service.js';

/** Tombstones purged per pass at most; the rest wait for the next round. */
const PASS = 5_000;

/**
 * Purges tombstones older than TOMBSTONE_TTL_MS (by the time of their version, identical on every replica). It reads
 * the store's index of tombstones by time, so a pass costs nothing when none has expired, whatever the file count.
 */
@Injectable()
export class TombstoneGcService {
  private readonly purged;

  constructor(
    @Inject(APP_CONFIG) private readonly config: NodeConfig,
    private readonly store: LocalStoreService,
    metrics: MetricsService,
  ) {
    this.purged = metrics.counter({ name: 'shoal_tombstones_purged_total', help: 'tombstones purged after TOMBSTONE_TTL_MS' });
  }

  async run(now = Date.now()): Promise<number> {
    let purged = 0;
    for (const e of this.store.entries.expiredTombstones(now - this.config.tombstoneTtlMs, PASS)) {
      if ((await this.store.purge(e)).applied) purged++;
    }
    this.purged.inc(purged);
    return purged;
  }
}
