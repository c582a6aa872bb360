import type { Readable } from 'node:stream';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { ShoalError } from '../../common/errors.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { NodeIdentity } from '../identity/node-identity.js';
import type { Member } from '../membership/merge.js';
import { PlacementService } from '../placement/placement.service.js';
import { compareVersions } from '../storage/hlc.js';
import { tombstone, type Entry, type EntryMeta } from '../storage/entry.js';
import { LocalStoreService } from '../storage/local-store.service.js';
import type { ByteRange } from '../storage/range.js';
import type { StagedBlob, StageOptions } from '../storage/staging.js';
import { VerifyStream } from '../storage/verify-stream.js';
import { PeerClientService, peerError } from './peer-client.service.js';
import { firstSuccesses } from './quorum.js';
import { ReplicatorService, type WriteOutcome } from './replicator.service.js';
import { DeliveryService } from './delivery.service.js';
import { FenceService } from './fence.service.js';
import { NodeStateService } from '../state/node-state.service.js';

export interface UploadMeta {
  contentType: string;
  declaredLength?: number;
  expectedSha256?: string;
  /** stored and replicated with the version (S3 object metadata) */
  meta?: EntryMeta;
}

export interface StoredFile {
  entry: Entry;
  replicas: number;
  nodes: string[];
}

interface Answer {
  member: Member;
  entry: Entry | null;
}

/**
 * The coordinator: whichever node a client talks to decides here what to do locally and what to ask of the owners
 * (DESIGN §3). Uploads and deletes need W acknowledgements, reads consult R owners and take the newest version.
 */
@Injectable()
export class CoordinatorService {
  private readonly logger = new Logger(CoordinatorService.name);
  private readonly readRepairs;
  private readonly proxyReads;

  constructor(
    @Inject(APP_CONFIG) private readonly config: NodeConfig,
    private readonly self: NodeIdentity,
    private readonly store: LocalStoreService,
    private readonly placement: PlacementService,
    private readonly peers: PeerClientService,
    private readonly replicator: ReplicatorService,
    private readonly delivery: DeliveryService,
    private readonly state: NodeStateService,
    private readonly fence: FenceService,
    metrics: MetricsService,
  ) {
    this.readRepairs = metrics.counter({ name: 'shoal_read_repairs_total', help: 'stale or missing owners repaired after a read' });
    this.proxyReads = metrics.counter({ name: 'shoal_proxy_reads_total', help: 'downloads streamed from a peer because this node does not hold the file' });
  }

  /** Refuses a write before its body is read when fewer than W owners are up (503, nothing written). */
  private writableOwners(key: string): Member[] {
    this.state.assertMayWrite();
    this.state.assertClockInBounds();
    const owners = this.placement.ownersOfKey(key);
    const { w } = this.placement.effective();
    const up = owners.filter((o) => o.id === this.self.id || o.status === 'up').length;
    if (up < w) {
      throw new ShoalError('INSUFFICIENT_REPLICAS', `only ${up} of the ${owners.length} owners of this key are up; ${w} are needed; nothing was written`, { retryAfter: 5 }, { 'Retry-After': '5' });
    }
    return owners;
  }

  /** The 503 of {@link writableOwners} for callers that stage a body before committing it: refused before it is read. */
  assertWritable(key: string): void {
    this.writableOwners(key);
  }

  async put(key: string, body: Readable, meta: UploadMeta): Promise<StoredFile> {
    const owners = this.writableOwners(key);
    if (this.config.maxObjectBytes !== undefined && meta.declaredLength !== undefined && meta.declaredLength > this.config.maxObjectBytes) {
      throw new ShoalError('PAYLOAD_TOO_LARGE', `the upload is ${meta.declaredLength} bytes; MAX_OBJECT_BYTES is ${this.config.maxObjectBytes}`);
    }
    const { w } = this.placement.effective();
    // Fenced before the body is read: a refused write has sent nothing anywhere.
    const base: Omit<Entry, 'sha256' | 'size'> = { key, version: await this.fence.claim(key, owners, w), contentType: meta.contentType, updatedAt: Date.now(), deleted: false };
    if (meta.meta) base.meta = meta.meta;
    return this.answer(await this.replicator.upload(base, body, this.stageOptions(meta), owners, w), w);
  }

  private stageOptions(meta: Omit<UploadMeta, 'contentType'>): StageOptions {
    return { declaredLength: meta.declaredLength, expectedSha256: meta.expectedSha256, maxBytes: this.config.maxObjectBytes };
  }

  /** Receives an upload into tmp/ before its key is known (multipart forms may send the key after the file). */
  stage(body: Readable, meta: Omit<UploadMeta, 'contentType'>): Promise<StagedBlob> {
    return this.store.stage(body, this.stageOptions(meta));
  }

  /** Drops a staged upload that will not be committed (a check after staging failed). */
  discardStaged(staged: StagedBlob): Promise<void> {
    return this.store.discard(staged);
  }

  async commitUpload(key: string, staged: StagedBlob, contentType: string, meta?: EntryMeta): Promise<StoredFile> {
    let owners: Member[];
    try {
      owners = this.writableOwners(key);
    } catch (err) {
      await this.store.discard(staged);
      throw err;
    }
    const { w } = this.placement.effective();
    let version: string;
    try {
      version = await this.fence.claim(key, owners, w);
    } catch (err) {
      await this.store.discard(staged);
      throw err;
    }
    const entry: Entry = { key, version, sha256: staged.sha256, size: staged.size, contentType, updatedAt: Date.now(), deleted: false };
    if (meta) entry.meta = meta;
    return this.answer(await this.replicator.writeStaged(entry, staged, owners, w), w);
  }

  async delete(key: string): Promise<void> {
    const owners = this.writableOwners(key);
    const { entry } = await this.locate(key);
    if (!entry || entry.deleted) throw new ShoalError('NOT_FOUND', `no live version of "${key}"`);
    const { w } = this.placement.effective();
    const version = await this.fence.claim(key, owners, w);
    this.answer(await this.replicator.write(tombstone(key, version, Date.now()), owners, w), w);
  }

  /**
   * W acknowledgements make the answer. Fewer is 503: with no remote owner having committed, nothing was written
   * anywhere; otherwise those owners keep it and it may spread (`indeterminate: true`, the one case README names).
   */
  private answer(outcome: WriteOutcome, w: number): StoredFile {
    if (!outcome.ok) {
      const n = outcome.acked.length;
      const detail = outcome.uncertain
        ? `only ${n} of the ${w} copies needed were confirmed; an owner may hold the write all the same, so it may or may not survive`
        : `fewer than the ${w} copies needed could be written; nothing was written`;
      throw new ShoalError('INSUFFICIENT_REPLICAS', detail, { retryAfter: 5, replicas: n, indeterminate: outcome.uncertain }, { 'Retry-After': '5' });
    }
    return { entry: outcome.entry, replicas: outcome.acked.length, nodes: outcome.acked };
  }

  /** The newest version of a key among R owners (a tombstone counts), repairing stale owners in the background. */
  async locate(key: string): Promise<{ entry?: Entry; holders: Member[] }> {
    const owners = this.placement.ownersOfKey(key);
    const { r } = this.placement.effective();
    // A recovering node does not trust its own answers yet (it may hold deletes it missed).
    const reachable = owners.filter((o) => (o.id === this.self.id ? !this.state.recovering : o.status === 'up'));
    const tasks = reachable.map(async (member): Promise<Answer> => ({
      member,
      entry: member.id === this.self.id ? (this.store.get(key) ?? null) : ((await this.peers.versions(member.url, [key]))[0] ?? null),
    }));
    const { quorum, all } = firstSuccesses(tasks, r);
    const answers = await quorum.catch((err: unknown) => {
      throw new ShoalError('INSUFFICIENT_REPLICAS', `fewer than ${r} owners of this key answered (${peerError(err)})`, { retryAfter: 2 }, { 'Retry-After': '2' });
    });
    // A coordinator that is not an owner may still hold a hinted copy.
    const recovering = this.state.recovering;
    const local = recovering ? undefined : this.store.get(key);
    let newest: Entry | undefined = local ?? undefined;
    // Recovering since the question was asked (the process was paused meanwhile): its own answer no longer counts.
    const trusted = recovering ? answers.filter((a) => a.member.id !== this.self.id) : answers;
    for (const a of trusted) if (a.entry && (!newest || compareVersions(a.entry.version, newest.version) > 0)) newest = a.entry;
    if (newest) void all.then((results) => this.repair(newest, results)).catch((err: unknown) => this.logger.warn({ err }, 'read-repair failed'));
    const holders = trusted.filter((a) => a.entry && newest && a.entry.version === newest.version).map((a) => a.member);
    return { entry: newest, holders };
  }

  /** Streams the bytes of `entry`: from the local disk if held, else proxied from an owner that holds that version. */
  async open(entry: Entry, holders: Member[], range?: ByteRange): Promise<Readable> {
    const local = this.state.recovering ? undefined : this.store.get(entry.key);
    if (local?.version === entry.version && (await this.store.hasBlob(entry.sha256))) return this.store.openRead(entry, range);
    this.proxyReads.inc();
    const whole = !range || (range.start === 0 && range.end === entry.size - 1);
    let lastErr: unknown = new Error('no owner holds this version');
    for (const h of holders.filter((m) => m.id !== this.self.id)) {
      try {
        const stream = await this.peers.openBlob(h.url, entry.sha256, entry.size, range);
        if (!whole) return stream;
        const verify = new VerifyStream(entry.sha256);
        stream.once('error', (err) => verify.destroy(err));
        return stream.pipe(verify);
      } catch (err) {
        lastErr = err;
      }
    }
    throw new ShoalError('BAD_GATEWAY', `no owner could stream "${entry.key}" (${peerError(lastErr)})`);
  }

  /**
   * Read-repair: owners that answered with an older version or nothing get the newest one — from the local disk when
   * this node holds it, else relayed (streamed) from an owner that answered with it.
   */
  private async repair(newest: Entry, results: PromiseSettledResult<Answer>[]): Promise<void> {
    if (this.state.recovering) return; // a recovering node pushes nothing (DESIGN §3)
    const answers = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const stale = answers.filter((a) => a.member.id !== this.self.id && (!a.entry || compareVersions(a.entry.version, newest.version) < 0));
    if (stale.length === 0) return;
    const local = this.store.get(newest.key);
    const haveLocally = local?.version === newest.version && (newest.deleted || (await this.store.hasBlob(newest.sha256)));
    const source = haveLocally || newest.deleted ? undefined : answers.find((a) => a.member.id !== this.self.id && a.entry?.version === newest.version)?.member;
    if (!haveLocally && !newest.deleted && !source) return;
    for (const { member } of stale) {
      this.readRepairs.inc();
      try {
        const body = source ? await this.peers.openBlob(source.url, newest.sha256, newest.size) : undefined;
        await this.delivery.send(member, newest, body);
      } catch (err) {
        this.logger.debug({ key: newest.key, peer: member.id, err: peerError(err) }, 'read-repair failed');
      }
    }
  }

}
