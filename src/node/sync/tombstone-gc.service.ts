import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { versionTime } from '../storage/hlc.js';
import { LocalStoreService } from '../storage/local-store.service.js';

/** Entries examined per pass: the scan resumes where it stopped, so a pass costs the same whatever the file count. */
const PASS = 20_000;

/** Purges tombstones older than TOMBSTONE_TTL_MS (by the time of their version, identical on every replica). */
@Injectable()
export class TombstoneGcService {
  private cursor = '';
  private readonly purged;

  constructor(
    @Inject(APP_CONFIG) private readonly config: NodeConfig,
    private readonly store: LocalStoreService,
    metrics: MetricsService,
  ) {
    this.purged = metrics.counter({ name: 'shoal_tombstones_purged_total', help: 'tombstones purged after TOMBSTONE_TTL_MS' });
  }

  async run(now = Date.now()): Promise<number> {
    const horizon = now - this.config.tombstoneTtlMs;
    const page = this.store.scanPage('', this.cursor === '' ? undefined : this.cursor, PASS);
    let purged = 0;
    for (const e of page.entries) {
      if (e.deleted && versionTime(e.version) < horizon && (await this.store.purge(e)).applied) purged++;
    }
    this.cursor = page.truncated ? page.entries[page.entries.length - 1].key : '';
    this.purged.inc(purged);
    return purged;
  }
}
