import { hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { ShoalError } from '../../common/errors.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { NodeIdentity } from '../identity/node-identity.js';
import type { Member } from '../membership/merge.js';
import { PEER_CLIENT, peerError, type PeerClient } from '../peer/peer-client.js';
import { PlacementService } from '../placement/placement.service.js';
import { NodeStateService } from '../state/node-state.service.js';
import type { Entry } from '../storage/entry.js';
import { compareVersions } from '../storage/hlc.js';
import { LocalStoreService } from '../storage/local-store.service.js';
import type { ByteRange } from '../storage/range.js';
import { VerifyStream } from '../storage/verify-stream.js';
import { primed } from '../../common/streams/primed.js';
import { askInTurn } from './quorum.js';
import { ReadRepairService, type OwnerAnswer } from './read-repair.service.js';

/**
 * A read asks R owners; when one of them has not answered after this long, the next owner is asked too (a hedged
 * request), so that a hung owner still marked up costs a read this much, not its timeout.
 */
const READ_HEDGE_MS = 50;
/** How long a read waits for a leaving node's answer beyond the owners' (it normally answers in milliseconds). */
const LEAVING_READ_WAIT_MS = 1000;

/**
 * The read side of coordination (DESIGN §3 Download): ask R owners for the version they hold (metadata only) — this
 * node first when it owns the key, the others in this node's order ({@link readRank}), another one in place of any
 * that fails or is slow —
 * take the newest (a tombstone counts), stream it from the local disk if held, else proxy it from an owner that has
 * it; owners found stale among those asked are repaired in the background (anti-entropy repairs the others).
 */
@Injectable()
export class ReadCoordinatorService {
  private readonly logger = new Logger(ReadCoordinatorService.name);
  private readonly proxyReads;

  constructor(
    private readonly self: NodeIdentity,
    private readonly store: LocalStoreService,
    private readonly placement: PlacementService,
    @Inject(PEER_CLIENT) private readonly peers: PeerClient,
    private readonly state: NodeStateService,
    private readonly readRepair: ReadRepairService,
    metrics: MetricsService,
  ) {
    this.proxyReads = metrics.counter({ name: 'shoal_proxy_reads_total', help: 'downloads streamed from a peer because this node does not hold the file' });
  }

  /** The newest version of a key among R owners (a tombstone counts), repairing stale owners in the background. */
  async locate(key: string): Promise<{ entry?: Entry; holders: Member[] }> {
    const owners = this.placement.ownersOfKey(key);
    // The sole owner (N=1), not recovering and with no leaving node to ask: its own entry is the answer, from one read.
    if (owners.length === 1 && owners[0].id === this.self.id && !this.state.recovering && this.placement.leavingHoldersOfKey(key).length === 0) {
      const entry = this.store.get(key);
      return { entry, holders: entry ? owners : [] };
    }
    const { r } = this.placement.effective();
    // A recovering node does not trust its own answers yet (it may hold deletes it missed). Its own answer, when it
    // can give one, comes first: it costs no request and counts as one of the R (see readRank for the others).
    const reachable = owners.filter((o) => (o.id === this.self.id ? !this.state.recovering : o.status === 'up'));
    reachable.sort((a, b) => this.readRank(a.id) - this.readRank(b.id));
    const ask = async (member: Member): Promise<OwnerAnswer> => ({
      member,
      entry: member.id === this.self.id ? (this.store.get(key) ?? null) : ((await this.peers.versions(member, [key]))[0] ?? null),
    });
    const { quorum, all } = askInTurn(reachable, r, ask, READ_HEDGE_MS);
    const extra = this.askLeavingHolders(key);
    const answers = await quorum.catch((err: unknown) => {
      throw new ShoalError('INSUFFICIENT_REPLICAS', `fewer than ${r} owners of this key answered (${peerError(err)})`, { retryAfter: 2 }, { 'Retry-After': '2' });
    });
    answers.push(...(await extra));
    // A coordinator that is not an owner may still hold a hinted copy.
    const recovering = this.state.recovering;
    const local = recovering ? undefined : this.store.get(key);
    let newest: Entry | undefined = local ?? undefined;
    // Recovering since the question was asked (the process was paused meanwhile): its own answer no longer counts.
    const trusted = recovering ? answers.filter((a) => a.member.id !== this.self.id) : answers;
    for (const a of trusted) if (a.entry && (!newest || compareVersions(a.entry.version, newest.version) > 0)) newest = a.entry;
    if (newest) void all.then((results) => this.readRepair.repair(newest, results)).catch((err: unknown) => this.logger.warn({ err }, 'read-repair failed'));
    const holders = trusted.filter((a) => a.entry && newest && a.entry.version === newest.version).map((a) => a.member);
    return { entry: newest, holders };
  }

  private readonly ranks = new Map<string, number>();

  /**
   * The order in which this node asks owners for versions: itself first, then the others in an order of its own
   * (a hash of both ids), the same for every key, so that concurrent reads' queries go to one peer and share its
   * batches — while other coordinators favour other peers.
   */
  private readRank(id: string): number {
    if (id === this.self.id) return -1;
    let rank = this.ranks.get(id);
    if (rank === undefined) this.ranks.set(id, (rank = hash('sha256', `${this.self.id}\u0000${id}`, 'buffer').readUInt32BE(0)));
    return rank;
  }

  /**
   * During a decommission, the leaving node that owned the key's partition is asked too (it still holds the copies its
   * successor may lack); it counts for nothing in R, and a leaving node that does not answer quickly is not waited for.
   */
  private async askLeavingHolders(key: string): Promise<OwnerAnswer[]> {
    const holders = this.placement.leavingHoldersOfKey(key).filter((m) => m.id !== this.self.id);
    if (holders.length === 0) return [];
    const ask = (member: Member) =>
      Promise.race([
        this.peers.versions(member, [key]).then((v): OwnerAnswer => ({ member, entry: v[0] ?? null })),
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), LEAVING_READ_WAIT_MS).unref()),
      ]).catch(() => undefined);
    return (await Promise.all(holders.map(ask))).filter((a): a is OwnerAnswer => a !== undefined);
  }

  /**
   * The whole content of `entry` when this node is one of its holders and keeps it inline (a small file): read and
   * hash-checked at once, for an answer without a stream. `undefined`: stream it with {@link open}; `null`: the local
   * copy is corrupt (reported) — open it from the other holders only.
   */
  readInline(entry: Entry, holders: Member[]): Buffer | null | undefined {
    if (this.state.recovering || !holders.some((h) => h.id === this.self.id)) return undefined;
    return this.store.readInline(entry);
  }

  /**
   * Streams the bytes of `entry`: from the local disk if held (and `fromLocal`), else proxied from an owner that holds
   * that version. Each source is {@link primed}: one that fails before its first bytes — a blob file gone, a copy that
   * fails its hash check within its first chunk (reported and re-fetched by the check itself) — gives way to the next,
   * so the caller answers with the right bytes or an error, never with a dropped connection.
   */
  async open(entry: Entry, holders: Member[], range?: ByteRange, fromLocal = true): Promise<Readable> {
    const local = this.state.recovering || !fromLocal ? undefined : this.store.get(entry.key);
    let lastErr: unknown = new Error('no owner holds this version');
    if (local?.version === entry.version && (await this.store.hasBlob(entry.sha256))) {
      try {
        return await primed(this.store.openRead(entry, range));
      } catch (err) {
        lastErr = err;
        this.logger.warn({ key: entry.key, err: peerError(err) }, 'the local copy failed before its first byte; reading another owner\'s');
      }
    }
    this.proxyReads.inc();
    const whole = !range || (range.start === 0 && range.end === entry.size - 1);
    for (const h of holders.filter((m) => m.id !== this.self.id)) {
      try {
        const stream = await this.peers.openBlob(h, entry.sha256, entry.size, range);
        if (!whole) return await primed(stream);
        const verify = new VerifyStream(entry.sha256);
        stream.once('error', (err) => verify.destroy(err));
        return await primed(stream.pipe(verify));
      } catch (err) {
        lastErr = err;
      }
    }
    throw new ShoalError('BAD_GATEWAY', `no owner could stream "${entry.key}" (${peerError(lastErr)})`);
  }
}
