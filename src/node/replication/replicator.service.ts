import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { Injectable, Logger } from '@nestjs/common';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { NodeIdentity } from '../identity/node-identity.js';
import type { Member } from '../membership/merge.js';
import type { Entry } from '../storage/entry.js';
import { LocalStoreService } from '../storage/local-store.service.js';
import type { StagedBlob, StageOptions } from '../storage/staging.js';
import { DeliveryService } from './delivery.service.js';
import { HandoffService } from './handoff.service.js';
import { PeerClientService, peerError } from './peer-client.service.js';
import type { PeerUpload } from './peer-upload.js';
import { firstSuccesses } from './quorum.js';

/** After W owners acknowledged, the rest get this long to join in before the client is answered. */
const STRAGGLER_GRACE_MS = 500;

export interface WriteOutcome {
  entry: Entry;
  /** owners that hold the entry (or a newer version of the key) durably when the client is answered */
  acked: string[];
  /** true when at least W acknowledged */
  ok: boolean;
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
    private readonly peers: PeerClientService,
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
   */
  async upload(base: Omit<Entry, 'sha256' | 'size'>, body: Readable, opts: StageOptions, owners: Member[], w: number): Promise<WriteOutcome> {
    const started = Date.now();
    const remote = owners.filter((o) => o.id !== this.self.id && o.status === 'up');
    const legs = remote.map((o) => this.peers.openUpload(o, { ...base, sha256: '', size: 0 }));
    let staged: StagedBlob;
    try {
      staged = await this.store.stage(tee(body, legs), opts);
    } catch (err) {
      for (const leg of legs) leg.abort(err as Error);
      throw err;
    }
    const entry: Entry = { ...base, sha256: staged.sha256, size: staged.size };
    const tasks = this.fanOut(owners, started, () => this.store.commit(entry, staged), (o) => {
      const leg = legs.find((l) => l.peerId === o.id);
      return leg && (() => leg.finish(entry.sha256, entry.size));
    });
    return this.settle(entry, owners, tasks, w, staged);
  }

  /** Writes an entry whose bytes are already staged here (a form upload, whose key may follow the file). */
  async writeStaged(entry: Entry, staged: StagedBlob, owners: Member[], w: number): Promise<WriteOutcome> {
    const started = Date.now();
    // Open the temp file for every remote owner before the local commit renames it: open descriptors survive it.
    const handles: FileHandle[] = [];
    const bodies = new Map<string, Readable | Buffer>();
    for (const o of owners) {
      if (o.id === this.self.id || o.status !== 'up') continue;
      if (staged.data) {
        bodies.set(o.id, staged.data);
        continue;
      }
      const fh = await open(staged.tmpPath!, 'r');
      handles.push(fh);
      bodies.set(o.id, fh.createReadStream({ autoClose: false, highWaterMark: 256 * 1024 }));
    }
    const tasks = this.fanOut(owners, started, () => this.store.commit(entry, staged), (o) => {
      const body = bodies.get(o.id);
      return body && (() => this.delivery.send(o, entry, body));
    });
    void Promise.allSettled(tasks).then(() => Promise.all(handles.map((fh) => fh.close().catch(() => undefined))));
    return this.settle(entry, owners, tasks, w, staged);
  }

  /** Writes a tombstone (or any entry whose bytes every owner already has) to the owners. */
  async write(entry: Entry, owners: Member[], w: number): Promise<WriteOutcome> {
    const started = Date.now();
    const tasks = this.fanOut(owners, started, () => this.store.commit(entry), (o) => (o.status === 'up' ? () => this.delivery.send(o, entry) : undefined));
    return this.settle(entry, owners, tasks, w);
  }

  /**
   * One timed task per owner, in the owners' order: the local write for this node, the remote one for another owner,
   * or a failure when there is no way to reach it (it is down, so it gets a hint).
   */
  private fanOut(owners: Member[], started: number, local: () => Promise<unknown>, remote: (o: Member) => (() => Promise<unknown>) | undefined): Promise<void>[] {
    return owners.map((o) => {
      if (o.id === this.self.id) return this.timed('local', local, started);
      const send = remote(o);
      return send ? this.timed('remote', send, started) : Promise.reject(new Error('owner is down'));
    });
  }

  private async timed(target: 'local' | 'remote', fn: () => Promise<unknown>, started: number): Promise<void> {
    try {
      await fn();
      this.latency.observe({ target, result: 'ok' }, (Date.now() - started) / 1000);
    } catch (err) {
      this.latency.observe({ target, result: 'error' }, (Date.now() - started) / 1000);
      throw err;
    }
  }

  /**
   * Waits for W acknowledgements (then briefly for stragglers), and leaves hints for the owners that missed the
   * entry. A coordinator that is not an owner keeps the bytes while any hint is pending.
   */
  private async settle(entry: Entry, owners: Member[], tasks: Promise<void>[], w: number, staged?: StagedBlob): Promise<WriteOutcome> {
    const acked: string[] = [];
    tasks.forEach((t, i) => t.then(() => acked.push(owners[i].id), () => undefined));
    const { quorum, all } = firstSuccesses(tasks, w);
    const ok = await quorum.then(() => true, () => false);
    if (ok) await Promise.race([all, new Promise((r) => setTimeout(r, STRAGGLER_GRACE_MS).unref())]);
    const snapshot = [...acked];
    const selfOwner = owners.some((o) => o.id === this.self.id);
    const finish = all.then(async (results) => {
      const missed = owners.filter((_, i) => results[i].status === 'rejected');
      for (const [i, r] of results.entries()) {
        if (r.status === 'rejected') this.logger.warn({ key: entry.key, owner: owners[i].id, err: peerError(r.reason) }, 'owner missed a write; hinting');
      }
      if (!selfOwner && staged) {
        // Keep the bytes here until every missed owner has them; the hint delivers them.
        if (missed.length > 0) await this.store.commit(entry, staged);
        else await this.store.discard(staged);
      }
      for (const o of missed) await this.handoff.hint(o.id, entry);
    });
    finish.catch((err: unknown) => this.logger.error({ key: entry.key, err }, 'post-write bookkeeping failed'));
    if (!ok) await finish.catch(() => undefined);
    return { entry, acked: snapshot, ok };
  }
}

/** Passes every chunk of `body` on to the owners' legs (waiting for the slowest that is still healthy). */
async function* tee(body: Readable, legs: PeerUpload[]): AsyncGenerator<Buffer> {
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (legs.length > 0) await Promise.all(legs.map((l) => l.write(chunk)));
    yield chunk;
  }
}
