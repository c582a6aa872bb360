import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { NodeIdentity } from '../identity/node-identity.js';
import { PlacementService } from '../placement/placement.service.js';
import { PEER_CLIENT, peerError, type PeerClient } from '../peer/peer-client.js';
import type { Entry } from '../storage/entry.js';
import { LocalStoreService } from '../storage/local-store.service.js';
import { NodeStateService } from '../state/node-state.service.js';

/**
 * Re-fetches the bytes of a blob found corrupt (by a read or the scrubber) from an owner that holds the same content,
 * re-hashing them on arrival. Until then reads of the key are proxied from a healthy owner.
 */
@Injectable()
export class BlobRepairService implements OnModuleDestroy {
  private readonly logger = new Logger(BlobRepairService.name);
  private readonly inProgress = new Set<string>();
  private readonly repaired;
  private readonly sub: Subscription;

  constructor(
    private readonly self: NodeIdentity,
    private readonly store: LocalStoreService,
    private readonly placement: PlacementService,
    @Inject(PEER_CLIENT) private readonly peers: PeerClient,
    private readonly state: NodeStateService,
    metrics: MetricsService,
  ) {
    this.repaired = metrics.counter({ name: 'shoal_blobs_repaired_total', help: 'corrupt blobs re-fetched from an owner', labelNames: ['result'] });
    this.sub = store.corrupted.subscribe((entry) => void this.repair(entry));
  }

  onModuleDestroy(): void {
    this.sub.unsubscribe();
  }

  async repair(entry: Entry): Promise<boolean> {
    if (this.inProgress.has(entry.sha256)) return false;
    this.inProgress.add(entry.sha256);
    try {
      for (const owner of this.placement.ownersOfKey(entry.key)) {
        if (owner.id === this.self.id || owner.status !== 'up') continue;
        try {
          const [theirs] = await this.peers.versions(owner, [entry.key], { signal: this.state.stopSignal });
          if (theirs?.sha256 !== entry.sha256) continue;
          const stream = await this.peers.openBlob(owner, entry.sha256, entry.size, undefined, { signal: this.state.stopSignal });
          const staged = await this.store.stage(stream, { expectedSha256: entry.sha256, declaredLength: entry.size });
          await this.store.restoreBlob(staged);
          this.repaired.inc({ result: 'ok' });
          this.logger.warn({ key: entry.key, sha256: entry.sha256, from: owner.id }, 'corrupt blob repaired from an owner');
          return true;
        } catch (err) {
          this.logger.warn({ key: entry.key, owner: owner.id, err: peerError(err) }, 'could not re-fetch a corrupt blob from this owner');
        }
      }
      this.repaired.inc({ result: 'failed' });
      return false;
    } finally {
      this.inProgress.delete(entry.sha256);
    }
  }
}
