import { Inject, Injectable, Logger } from '@nestjs/common';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { NodeIdentity } from '../identity/node-identity.js';
import type { Member } from '../membership/merge.js';
import { PEER_CLIENT, peerError, type PeerClient } from '../peer/peer-client.js';
import { NodeStateService } from '../state/node-state.service.js';
import type { Entry } from '../storage/entry.js';
import { compareVersions } from '../storage/hlc.js';
import { LocalStoreService } from '../storage/local-store.service.js';
import { DeliveryService } from './delivery.service.js';

/** One owner's answer to a read's version query. */
export interface OwnerAnswer {
  member: Member;
  entry: Entry | null;
}

/**
 * Read-repair (DESIGN §3 Download): after a read, owners that answered with an older version or nothing get the
 * newest one — from the local disk when this node holds it, else relayed (streamed) from an owner that answered with
 * it. Runs in the background of the read; a repair that fails is left to anti-entropy.
 */
@Injectable()
export class ReadRepairService {
  private readonly logger = new Logger(ReadRepairService.name);
  private readonly repairs;

  constructor(
    private readonly self: NodeIdentity,
    private readonly store: LocalStoreService,
    @Inject(PEER_CLIENT) private readonly peers: PeerClient,
    private readonly delivery: DeliveryService,
    private readonly state: NodeStateService,
    metrics: MetricsService,
  ) {
    this.repairs = metrics.counter({ name: 'shoal_read_repairs_total', help: 'stale or missing owners repaired after a read' });
  }

  /** Brings the owners among `results` that lag behind `newest` up to it. */
  async repair(newest: Entry, results: PromiseSettledResult<OwnerAnswer>[]): Promise<void> {
    if (this.state.recovering) return; // a recovering node pushes nothing (DESIGN §3)
    const answers = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const stale = answers.filter((a) => a.member.id !== this.self.id && (!a.entry || compareVersions(a.entry.version, newest.version) < 0));
    if (stale.length === 0) return;
    const local = this.store.get(newest.key);
    const haveLocally = local?.version === newest.version && (newest.deleted || (await this.store.hasBlob(newest.sha256)));
    const source = haveLocally || newest.deleted ? undefined : answers.find((a) => a.member.id !== this.self.id && a.entry?.version === newest.version)?.member;
    if (!haveLocally && !newest.deleted && !source) return;
    for (const { member } of stale) {
      this.repairs.inc();
      try {
        const body = source ? await this.peers.openBlob(source, newest.sha256, newest.size) : undefined;
        await this.delivery.send(member, newest, body);
      } catch (err) {
        this.logger.debug({ key: newest.key, peer: member.id, err: peerError(err) }, 'read-repair failed');
      }
    }
  }
}
