import { Inject, Injectable, Logger } from '@nestjs/common';
import { ShoalError } from '../../common/errors.js';
import { ClientLoadService } from '../../common/metrics/client-load.service.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { Pacer, type PaceLimits } from '../../common/workers/pacer.js';
import { realTimers } from '../../common/workers/worker.js';
import { NodeIdentity } from '../identity/node-identity.js';
import type { Member } from '../membership/merge.js';
import { MembershipService } from '../membership/membership.service.js';
import { PlacementService } from '../placement/placement.service.js';
import { PEER_CLIENT, peerError, type PeerClient } from '../peer/peer-client.js';
import type { SyncAnswers } from '../peer/sync-answers.js';
import type { DigestAnswer, EntryPage } from '../peer/wire.js';
import { NodeStateService } from '../state/node-state.service.js';
import type { Entry } from '../storage/entry.js';
import { compareVersions } from '../storage/hlc.js';
import { partitionPage } from '../storage/entry-index.js';
import { LocalStoreService } from '../storage/local-store.service.js';
import { decodePartitions, encodePartitions, rootOf } from './partition-set.js';
import { mapLimit } from '../../common/async/map-limit.js';

/** Partitions pulled from one peer at once, and entries fetched at once within a partition. */
const PARTITION_CONCURRENCY = 4;
const PULL_CONCURRENCY = 8;
const PAGE = 1000;
/**
 * Pulls are background work: at most 2 000 entries and 64 MiB a second, a tenth of that while clients are served or
 * the event loop lags. A recovering node is not paced: it serves nothing until it has caught up.
 */
const PULL_PACE: PaceLimits = { entriesPerSec: 2000, bytesPerSec: 64 * 1024 * 1024, busyFactor: 10, minPauseMs: 50 };

export interface RoundReport {
  /** co-owners compared with */
  peers: number;
  /** partitions whose digests differed */
  differing: number;
  /** entries pulled (files and tombstones) */
  pulled: number;
  bytes: number;
  /** owned partitions compared with at least one co-owner (or with no other owner) */
  covered: Set<number>;
  /** per differing partition: every key a co-owner knows, for the recovery check */
  knownByPeers: Map<number, Set<string>>;
}

/**
 * Anti-entropy (DESIGN §3). For each up co-owner, one small request carries a root hash over the digests of all the
 * partitions both own; equal roots end it (an idle round costs the same whatever the number of files). Otherwise the
 * peer answers its digests, and for each partition that differs the two exchange entry lists and this node pulls
 * whatever is newer — files (streamed, re-hashed) and tombstones. The peer repairs itself in its own round.
 */
@Injectable()
export class AntiEntropyService implements SyncAnswers {
  private readonly logger = new Logger(AntiEntropyService.name);
  private readonly m;
  private readonly pacer: Pacer;

  constructor(
    private readonly self: NodeIdentity,
    private readonly store: LocalStoreService,
    private readonly membership: MembershipService,
    private readonly placement: PlacementService,
    @Inject(PEER_CLIENT) private readonly peers: PeerClient,
    private readonly state: NodeStateService,
    metrics: MetricsService,
    load: ClientLoadService,
  ) {
    this.pacer = new Pacer(PULL_PACE, () => load.busy(), realTimers);
    this.m = {
      rounds: metrics.counter({ name: 'shoal_sync_rounds_total', help: 'anti-entropy rounds', labelNames: ['result'] }),
      differing: metrics.counter({ name: 'shoal_sync_partitions_differing_total', help: 'partitions found different from a co-owner' }),
      pulled: metrics.counter({ name: 'shoal_sync_entries_pulled_total', help: 'entries pulled from co-owners', labelNames: ['kind'] }),
      bytes: metrics.counter({ name: 'shoal_sync_bytes_pulled_total', help: 'blob bytes pulled from co-owners' }),
      duration: metrics.histogram({ name: 'shoal_sync_round_duration_seconds', help: 'anti-entropy round duration', buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600] }),
    };
  }

  /** Peer side, step 1. */
  answerDigests(encoded: string, root: string, askerRecovering: boolean): DigestAnswer {
    this.assertMayAnswer(askerRecovering);
    const partitions = decodePartitions(encoded, this.placement.partitionCount);
    if (rootOf(partitions, (p) => this.store.entries.digest(p)) === root) return { equal: true };
    const digests: Record<string, string> = {};
    for (const p of partitions) digests[p] = this.store.entries.digest(p).toString('hex');
    return { equal: false, digests };
  }

  /** Peer side, step 2. */
  answerEntries(partition: number, after: string | undefined, limit: number, askerRecovering: boolean): EntryPage {
    this.assertMayAnswer(askerRecovering);
    if (partition < 0 || partition >= this.placement.partitionCount) throw new ShoalError('BAD_REQUEST', 'no such partition');
    return partitionPage(this.store.entries, partition, after, limit);
  }

  /**
   * A recovering node gives nothing to a ready one (which would take possibly resurrected entries as truth), but does
   * compare with another recovering node: when every co-owner was away longer than the TTL, that is the only way out,
   * and each side still quarantines the old entries nobody else knows.
   */
  private assertMayAnswer(askerRecovering: boolean): void {
    if (!askerRecovering) this.state.assertNotRecovering();
  }

  /** One round with every up co-owner. */
  async round(): Promise<RoundReport> {
    const end = this.m.duration.startTimer();
    const report: RoundReport = { peers: 0, differing: 0, pulled: 0, bytes: 0, covered: new Set(), knownByPeers: new Map() };
    const owned = this.placement.ownedPartitions();
    for (const p of owned) {
      // A partition with no other owner has nobody to compare with: it is trivially in sync.
      if (this.placement.ownersOfPartition(p).every((o) => o.id === this.self.id)) report.covered.add(p);
    }
    const peers = this.membership.placementMembers().filter((m) => m.id !== this.self.id && m.status === 'up');
    let failures = 0;
    for (const peer of peers) {
      if (this.state.stopping) break; // SIGTERM: the next start compares again
      const shared = owned.filter((p) => this.placement.isOwner(p, peer.id));
      if (shared.length === 0) continue;
      try {
        await this.syncWith(peer, shared, report);
        report.peers++;
        for (const p of shared) report.covered.add(p);
      } catch (err) {
        failures++;
        this.logger.warn({ peer: peer.id, err: peerError(err) }, 'anti-entropy with a co-owner failed');
      }
    }
    this.m.rounds.inc({ result: failures === 0 ? 'ok' : 'partial' });
    end();
    return report;
  }

  private async syncWith(peer: Member, shared: number[], report: RoundReport): Promise<void> {
    const root = rootOf(shared, (p) => this.store.entries.digest(p));
    const answer = await this.peers.syncDigests(peer, encodePartitions(shared, this.placement.partitionCount), root, this.state.recovering, { signal: this.state.stopSignal });
    if (answer.equal) return;
    const differing = shared.filter((p) => answer.digests?.[p] !== this.store.entries.digest(p).toString('hex'));
    report.differing += differing.length;
    this.m.differing.inc(differing.length);
    await mapLimit(differing, PARTITION_CONCURRENCY, (p) => this.pullPartition(peer, p, report));
  }

  /** Pulls from `peer` every entry of partition `p` that is newer than the local one. */
  private async pullPartition(peer: Member, p: number, report: RoundReport): Promise<void> {
    const known = report.knownByPeers.get(p) ?? new Set<string>();
    report.knownByPeers.set(p, known);
    let after: string | undefined;
    for (;;) {
      const page = await this.peers.partitionEntries(peer, p, after, PAGE, this.state.recovering, { signal: this.state.stopSignal });
      const newer = page.entries.filter((e) => {
        known.add(e.key);
        const local = this.store.get(e.key);
        return !local || compareVersions(e.version, local.version) > 0;
      });
      await mapLimit(newer, PULL_CONCURRENCY, async (e) => {
        await this.pull(peer, e);
        report.pulled++;
        if (!e.deleted) report.bytes += e.size;
        if (!this.state.recovering) await this.pacer.spend(1, e.deleted ? 0 : e.size);
      });
      if (!page.truncated || page.entries.length === 0) return;
      after = page.entries[page.entries.length - 1].key;
    }
  }

  /** Applies one entry from a peer; the bytes are fetched only when no local blob has that content. */
  async pull(peer: Member, e: Entry): Promise<void> {
    if (e.deleted || (await this.store.hasBlob(e.sha256))) {
      await this.store.commit(e);
      this.m.pulled.inc({ kind: e.deleted ? 'tombstone' : 'metadata' });
      return;
    }
    const stream = await this.peers.openBlob(peer, e.sha256, e.size, undefined, { signal: this.state.stopSignal });
    const staged = await this.store.stage(stream, { expectedSha256: e.sha256, declaredLength: e.size });
    await this.store.commit(e, staged);
    this.m.pulled.inc({ kind: 'file' });
    this.m.bytes.inc(e.size);
  }
}
