import { hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { mapLimit } from '../../common/async/map-limit.js';
import { compareVersions } from '../storage/hlc.js';
import type { Member } from '../membership/merge.js';
import type { Entry } from '../storage/entry.js';
import { LocalStoreService } from '../storage/local-store.service.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { PEER_CLIENT, peerError, type PeerClient, type SendOptions } from '../peer/peer-client.js';

/** Why background work sends an entry: the end of a hint, or a partition handed to its owners (rebalancing, decommission). */
export type DeliveryPurpose = 'handoff' | 'handover';

/** Entries sent to one owner at once by {@link DeliveryService.deliverMissing}. */
const CONCURRENCY = 8;

/** Sends one entry to one peer — bytes streamed from the local store unless a body is given. Used by writes, hints, repairs and sync. */
@Injectable()
export class DeliveryService {
  private readonly logger = new Logger(DeliveryService.name);
  private readonly sent;

  constructor(
    private readonly store: LocalStoreService,
    @Inject(PEER_CLIENT) private readonly peers: PeerClient,
    metrics: MetricsService,
  ) {
    // With shoal_sync_bytes_pulled_total, what the background moves between nodes: a rolling restart should move only
    // the writes the stopped node missed, never whole partitions (DESIGN §3 Lifecycle).
    this.sent = {
      entries: metrics.counter({ name: 'shoal_background_entries_sent_total', help: 'entries sent to an owner that lacked them, by background work', labelNames: ['purpose'] }),
      bytes: metrics.counter({ name: 'shoal_background_bytes_sent_total', help: 'file bytes sent to an owner that lacked them, by background work', labelNames: ['purpose'] }),
    };
  }

  async send(to: Member, entry: Entry, body?: Readable | Buffer, opts?: SendOptions): Promise<{ version: string }> {
    if (entry.deleted) return this.peers.putTombstone(to, entry, opts);
    return this.peers.putEntry(to, entry, body ?? this.bytesOf(entry), opts);
  }

  /**
   * A blob held inline goes as a Buffer, which the peer client batches with other small entries for that owner
   * (hints and hand-overs of small files then cost a fraction of a request each). It is hashed first: one that does
   * not match goes through openBlob, whose verification quarantines it, as every other send does.
   */
  private bytesOf(entry: Entry): Readable | Buffer {
    const inline = this.store.entries.getInline(entry.sha256);
    if (inline?.length === entry.size && hash('sha256', inline) === entry.sha256) return inline;
    return this.store.openBlob(entry.sha256, entry.size);
  }

  /**
   * Makes sure `to` holds each entry (or a newer version): asks it for its versions in one request, then sends only
   * what it lacks, a few at a time. Resolves with the entries it now holds; an unreachable owner holds none. `signal`
   * (the node stopping) ends it early: what was not confirmed is simply not held yet.
   */
  async deliverMissing(to: Member, entries: Entry[], purpose: DeliveryPurpose, signal?: AbortSignal): Promise<Entry[]> {
    if (entries.length === 0) return [];
    let theirs: (Entry | null)[];
    try {
      theirs = await this.peers.versions(to, entries.map((e) => e.key), { signal });
    } catch (err) {
      this.logger.debug({ owner: to.id, err: peerError(err) }, 'owner unreachable; nothing delivered');
      return [];
    }
    const held: Entry[] = [];
    await mapLimit([...entries.keys()], CONCURRENCY, async (i) => {
      const e = entries[i];
      const t = theirs[i];
      if (!t || compareVersions(t.version, e.version) < 0) {
        if (signal?.aborted) return;
        try {
          await this.send(to, e, undefined, { signal });
          this.sent.entries.inc({ purpose });
          if (!e.deleted) this.sent.bytes.inc({ purpose }, e.size);
        } catch (err) {
          this.logger.debug({ owner: to.id, key: e.key, err: peerError(err) }, 'entry not delivered');
          return;
        }
      }
      held.push(e);
    });
    return held;
  }
}
