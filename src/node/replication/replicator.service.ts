import type { Readable } from 'node:stream';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { NodeIdentity } from '../identity/node-identity.js';
import type { Member } from '../membership/merge.js';
import type { Entry, EntryMeta } from '../storage/entry.js';
import { LocalStoreService } from '../storage/local-store.service.js';
import type { StagedBlob, StageOptions } from '../storage/staging.js';
import { DeliveryService } from './delivery.service.js';
import { HandoffService } from './handoff.service.js';
import { ShoalError } from '../../common/errors.js';
import { answeredByPeer, LEG_IDLE_TIMEOUT_MS, PEER_CLIENT, PeerAnswerError, peerError, type PeerClient, type PeerUpload } from '../peer/peer-client.js';
import { firstSuccesses } from './quorum.js';

/** After W owners acknowledged, the rest get this long to join in before the client is answered. */
const STRAGGLER_GRACE_MS = 500;

export interface WriteOutcome {
  entry: Entry;
  /** owners that hold the entry (or a newer version of the key) durably when the client is answered */
  acked: string[];
  /** true when at least W acknowledged */
  ok: boolean;
  /**
   * For a failed write: whether some owner may hold it all the same — one acknowledged, or one was sent the whole
   * entry and gave no answer (it may have committed). False means nothing was written anywhere.
   */
  uncertain: boolean;
  /** For a failed write: every owner that refused it did so for lack of disk space (the answer is then 507). */
  outOfSpace?: boolean;
}

/** An owner's refusal for lack of disk space: its own store's error, or a peer's 507. */
function outOfSpace(err: unknown): boolean {
  return (err instanceof ShoalError && err.code === 'INSUFFICIENT_STORAGE') || (err instanceof PeerAnswerError && (err.status === 507 || err.problemCode === 'INSUFFICIENT_STORAGE'));
}

/**
 * Whether a failed write failed for lack of space alone: no owner was skipped as down, and every refusal that came
 * back (abandoned legs aside) was for lack of space — the local owner's included when it was tried (when the remote
 * refusals alone put W out of reach, it is not).
 */
function allOutOfSpace(refusals: unknown[], everyOwnerTried: boolean): boolean {
  const answered = refusals.filter(answeredByPeer);
  return everyOwnerTried && answered.length > 0 && answered.every(outOfSpace);
}

/**
 * Writes entries to the owners of their key: locally when this node is one, over `/internal/` otherwise, all in
 * parallel; resolves once W owners hold an entry durably. Owners that are down or fail get a hint, and the
 * coordinator keeps the bytes until the hint is delivered (hinted handoff).
 *
 * Uploads are pipelined: each chunk of the client's body goes to the local temp file and to every up owner as it
 * arrives, so a replicated upload takes about as long as one copy instead of two in a row. The owners learn the
 * SHA-256 and size in trailers once the coordinator has the whole body, hashed and fsynced, and verify them before
 * committing (DESIGN §3's "each owner re-hashes what it receives and refuses a mismatch").
 */
@Injectable()
export class ReplicatorService {
  private readonly logger = new Logger(ReplicatorService.name);
  private readonly latency;

  constructor(
    private readonly self: NodeIdentity,
    private readonly store: LocalStoreService,
    @Inject(PEER_CLIENT) private readonly peers: PeerClient,
    private readonly delivery: DeliveryService,
    private readonly handoff: HandoffService,
    metrics: MetricsService,
  ) {
    this.latency = metrics.histogram({
      name: 'shoal_replication_duration_seconds',
      help: 'time to store one entry on one owner (local or remote)',
      labelNames: ['target', 'result'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
    });
  }

  /**
   * Streams an upload to the local store and to the owners at once. `base` is the entry without its content fields;
   * a failure of the body itself (cut off, checksum, size limit) aborts every leg and nothing is stored anywhere.
   * `lateMeta`, asked once the body is complete, adds metadata known only then (S3's MD5 ETag); owners get it in a
   * trailer.
   */
  async upload(base: Omit<Entry, 'sha256' | 'size'>, body: Readable, opts: StageOptions, owners: Member[], w: number, lateMeta?: () => EntryMeta): Promise<WriteOutcome> {
    const started = Date.now();
    const remote = owners.filter((o) => o.id !== this.self.id && o.status === 'up');
    const uploads = remote.map((o) => this.peers.openUpload(o, { ...base, sha256: '', size: 0 }));
    let staged: StagedBlob;
    try {
      staged = await this.store.stage(uploads.length > 0 ? tee(body, uploads) : body, opts);
    } catch (err) {
      for (const u of uploads) u.abort(err as Error);
      throw err;
    }
    const entry: Entry = { ...base, sha256: staged.sha256, size: staged.size };
    const extra = lateMeta?.();
    if (extra) entry.meta = { ...base.meta, ...extra };
    // No owner commits before its trailers arrive. If legs broke during the body (an owner died, a link went
    // silent) so that W is out of reach, give every leg up now, before any trailer: then nothing exists anywhere.
    const healthy = uploads.filter((u) => !u.failed).length + (owners.some((o) => o.id === this.self.id) ? 1 : 0);
    if (healthy < w) {
      const reason = new Error(`only ${healthy} owners still took the body; ${w} are needed`);
      for (const u of uploads) u.abort(reason);
      await this.store.discard(staged);
      this.logger.warn({ key: entry.key, healthy, w, failed: uploads.filter((u) => u.failed).map((u) => ({ owner: u.peerId, err: peerError(u.failed) })) }, 'write quorum lost during the body; abandoned before any owner committed');
      return { entry, acked: [], ok: false, uncertain: false };
    }
    const legs = this.legs(owners, started, (o) => {
      const u = uploads.find((l) => l.peerId === o.id);
      return u && { send: () => u.finish(entry.sha256, entry.size, extra), abort: (err) => u.abort(err) };
    });
    return this.settle(entry, owners, legs, () => this.store.commit(entry, staged), w, staged);
  }

  /** Writes an entry whose bytes are already staged here (a form upload, whose key may follow the file). */
  async writeStaged(entry: Entry, staged: StagedBlob, owners: Member[], w: number): Promise<WriteOutcome> {
    const started = Date.now();
    // Open the staged bytes for the remote owners before the local commit places them: the reader survives it.
    const remote = owners.filter((o) => o.id !== this.self.id && o.status === 'up');
    const reader = remote.length > 0 && !staged.data ? await this.store.openStaged(staged) : undefined;
    const bodies = new Map<string, Readable | Buffer>(remote.map((o) => [o.id, staged.data ?? reader!.stream()]));
    const legs = this.legs(owners, started, (o) => {
      const body = bodies.get(o.id);
      if (!body) return undefined;
      const ctl = new AbortController();
      // The bytes are here already, so the leg is bounded in total: its idle allowance plus 10 MB/s.
      const timeoutMs = LEG_IDLE_TIMEOUT_MS + Math.ceil(entry.size / 10_000);
      return { send: () => this.delivery.send(o, entry, body, { signal: ctl.signal, timeoutMs }), abort: (err) => ctl.abort(err) };
    });
    void Promise.allSettled(legs.map((l) => l.done)).then(() => reader?.close());
    return this.settle(entry, owners, legs, () => this.store.commit(entry, staged), w, staged);
  }

  /** Writes a tombstone (or any entry whose bytes every owner already has) to the owners. */
  async write(entry: Entry, owners: Member[], w: number): Promise<WriteOutcome> {
    const started = Date.now();
    const legs = this.legs(owners, started, (o) => {
      if (o.status !== 'up') return undefined;
      const ctl = new AbortController();
      return { send: () => this.delivery.send(o, entry, undefined, { signal: ctl.signal, timeoutMs: LEG_IDLE_TIMEOUT_MS }), abort: (err) => ctl.abort(err) };
    });
    return this.settle(entry, owners, legs, () => this.store.commit(entry), w);
  }

  /**
   * Writes an entry whose content the cluster already holds (a copy: the SHA-256 of its source). An owner holding
   * that blob takes the entry alone, which references it; only an owner that lacks it is sent the bytes, streamed
   * (verified) from `source`. Blobs are reference-counted by entry on every node, so the copy keeps them alive
   * whatever happens to its source.
   */
  async writeReference(entry: Entry, owners: Member[], w: number, source: () => Promise<Readable>): Promise<WriteOutcome> {
    const started = Date.now();
    const legs = this.legs(owners, started, (o) => {
      if (o.status !== 'up') return undefined;
      const ctl = new AbortController();
      const send = async () => {
        try {
          return await this.peers.putTombstone(o, entry, { signal: ctl.signal, timeoutMs: LEG_IDLE_TIMEOUT_MS });
        } catch (err) {
          if (!lacksBlob(err)) throw err;
          return this.peers.putEntry(o, entry, await source(), { signal: ctl.signal, timeoutMs: LEG_IDLE_TIMEOUT_MS + Math.ceil(entry.size / 10_000) });
        }
      };
      return { send, abort: (err) => ctl.abort(err) };
    });
    const local = async () => {
      try {
        return await this.store.commit(entry);
      } catch (err) {
        if (!lacksBlob(err)) throw err;
        return this.store.commit(entry, await this.store.stage(await source(), { expectedSha256: entry.sha256, declaredLength: entry.size }));
      }
    };
    return this.settle(entry, owners, legs, local, w);
  }

  /**
   * One timed leg per remote owner, in the owners' order; an owner with no way to reach it (it is down) fails at
   * once, so it gets a hint if the write succeeds.
   */
  private legs(owners: Member[], started: number, remote: (o: Member) => { send: () => Promise<{ version: string }>; abort: (err: Error) => void } | undefined): Leg[] {
    return owners.flatMap((o): Leg[] => {
      if (o.id === this.self.id) return [];
      const leg = remote(o);
      if (!leg) {
        const done = Promise.reject(new Error('owner is down'));
        done.catch(() => undefined);
        return [{ owner: o, done, abort: () => undefined, sent: false }];
      }
      const done = this.timed('remote', leg.send, started).then((held) => {
        this.store.clock.observe(held.version); // the owner may hold a newer version of the key: its clock is ahead
      });
      done.catch(() => undefined);
      return [{ owner: o, done, abort: leg.abort, sent: true }];
    });
  }

  private async timed<T>(target: 'local' | 'remote', fn: () => Promise<T>, started: number): Promise<T> {
    try {
      const out = await fn();
      this.latency.observe({ target, result: 'ok' }, (Date.now() - started) / 1000);
      return out;
    } catch (err) {
      this.latency.observe({ target, result: 'error' }, (Date.now() - started) / 1000);
      throw err;
    }
  }

  /**
   * Decides the write (DESIGN §3 Upload). This node's own copy counts towards W, but it is committed only once the
   * remote acknowledgements in hand make W together with it: committing first would leave a copy — and hints that
   * spread it — behind a write the client is told failed. When W has become impossible every leg still running is
   * aborted and the staged bytes are dropped, so a 503 leaves nothing anywhere, unless a remote owner had already
   * committed (the one indeterminate case). After success the rest get a short grace, and the owners that missed
   * the entry get hints; a coordinator that is not an owner keeps the bytes while any hint is pending.
   */
  private async settle(entry: Entry, owners: Member[], legs: Leg[], local: () => Promise<unknown>, w: number, staged?: StagedBlob): Promise<WriteOutcome> {
    const started = Date.now();
    const selfOwner = owners.some((o) => o.id === this.self.id);
    const remoteAcked = new Set<string>();
    for (const l of legs) l.done.then(() => remoteAcked.add(l.owner.id), () => undefined);
    const { quorum, all } = firstSuccesses(legs.map((l) => l.done), w - (selfOwner ? 1 : 0));
    const reached = await quorum.then(() => true, () => false);
    if (!reached) {
      for (const l of legs) l.abort(new Error('the write quorum could not be reached; write abandoned'));
      const results = await all;
      for (const [i, r] of results.entries()) {
        if (r.status === 'rejected') this.logger.warn({ key: entry.key, owner: legs[i].owner.id, err: peerError(r.reason) }, 'owner missed a write that could not reach W; abandoned');
      }
      if (staged) await this.store.discard(staged);
      // An owner that answered with an error refused the entry; one that never answered may have committed it.
      const uncertain = remoteAcked.size > 0 || results.some((r, i) => r.status === 'rejected' && legs[i].sent && !answeredByPeer(r.reason));
      return { entry, acked: ordered(owners, remoteAcked), ok: false, uncertain, outOfSpace: allOutOfSpace(rejections(results), legs.every((l) => l.sent)) };
    }
    let localOk = false;
    let localError: unknown;
    if (selfOwner) {
      try {
        await this.timed('local', local, started);
        localOk = true;
      } catch (err) {
        localError = err;
        this.logger.error({ key: entry.key, err }, 'the local commit of a write failed');
      }
    }
    // With the local copy failed, the answer needs W remote acknowledgements: wait for all of them.
    if (selfOwner && !localOk) await all;
    else if (legs.length > 0) await withinGrace(all);
    const acked = ordered(owners, localOk ? new Set([...remoteAcked, this.self.id]) : remoteAcked);
    const finish = all.then(async (results) => {
      const missed = legs.filter((_, i) => results[i].status === 'rejected').map((l) => l.owner);
      for (const [i, r] of results.entries()) {
        if (r.status === 'rejected') this.logger.warn({ key: entry.key, owner: legs[i].owner.id, err: peerError(r.reason) }, 'owner missed a write; hinting');
      }
      if (!selfOwner && staged) {
        // Keep the bytes here until every missed owner has them; the hint delivers them.
        if (missed.length > 0) await this.store.commit(entry, staged);
        else await this.store.discard(staged);
      }
      for (const o of missed) await this.handoff.hint(o.id, entry);
    });
    finish.catch((err: unknown) => this.logger.error({ key: entry.key, err }, 'post-write bookkeeping failed'));
    const ok = acked.length >= w;
    const refusals = ok ? [] : [...(localOk || !selfOwner ? [] : [localError]), ...rejections(await all)];
    return { entry, acked, ok, uncertain: acked.length > 0, outOfSpace: !ok && allOutOfSpace(refusals, legs.every((l) => l.sent)) };
  }
}

function rejections(results: PromiseSettledResult<unknown>[]): unknown[] {
  return results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason);
}

interface Leg {
  owner: Member;
  /** resolves once the owner holds the entry (or a newer version of its key) durably */
  done: Promise<void>;
  /** gives the leg up: the owner discards what it received */
  abort(err: Error): void;
  /** whether the entry was sent at all (an owner that is down was not even tried) */
  sent: boolean;
}

/**
 * Waits for `all` for at most STRAGGLER_GRACE_MS. The timer is cleared as soon as `all` settles: under load, timers
 * left to run out kept every answered request's closures (and logger) alive for the full grace.
 */
async function withinGrace(all: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, STRAGGLER_GRACE_MS);
    timer.unref();
  });
  try {
    await Promise.race([all, grace]);
  } finally {
    clearTimeout(timer);
  }
}

/** An owner's refusal of an entry because it does not hold the blob (send the bytes instead). */
function lacksBlob(err: unknown): boolean {
  return (err instanceof ShoalError && err.code === 'CONFLICT') || (err instanceof PeerAnswerError && err.status === 409);
}

function ordered(owners: Member[], ids: Set<string>): string[] {
  return owners.filter((o) => ids.has(o.id)).map((o) => o.id);
}

/** Passes every chunk of `body` on to the owners' legs (waiting for the slowest that is still healthy). */
async function* tee(body: Readable, legs: PeerUpload[]): AsyncGenerator<Buffer> {
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (legs.length > 0) await Promise.all(legs.map((l) => l.write(chunk)));
    yield chunk;
  }
}
