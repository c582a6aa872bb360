import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { Injectable, Logger } from '@nestjs/common';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { NodeIdentity } from '../identity/node-identity.js';
import type { Member } from '../membership/merge.js';
import type { Entry } from '../storage/entry.js';
import { LocalStoreService } from '../storage/local-store.service.js';
import type { StagedBlob } from '../storage/staging.js';
import { HandoffService } from './handoff.service.js';
import { DeliveryService } from './delivery.service.js';
import { peerError } from './peer-client.service.js';
import { firstSuccesses } from './quorum.js';

/** After W owners acknowledged, the rest get this long to join in before the client is answered. */
const STRAGGLER_GRACE_MS = 500;

export interface WriteOutcome {
  /** owners that hold the entry (or a newer version of the key) durably when the client is answered */
  acked: string[];
  /** true when at least W acknowledged */
  ok: boolean;
}

/**
 * Writes an entry to the owners of its key: locally when this node is one, over `/internal/` otherwise, all in
 * parallel. Resolves once W owners hold it durably. Owners that are down or fail get a hint, and the coordinator
 * keeps the bytes until the hint is delivered (hinted handoff).
 */
@Injectable()
export class ReplicatorService {
  private readonly logger = new Logger(ReplicatorService.name);
  private readonly latency;

  constructor(
    private readonly self: NodeIdentity,
    private readonly store: LocalStoreService,
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

  async write(entry: Entry, staged: StagedBlob | undefined, owners: Member[], w: number): Promise<WriteOutcome> {
    const selfOwner = owners.some((o) => o.id === this.self.id);
    // Remote readers open the staged file before the local commit renames it: an open descriptor survives the rename.
    const handles: FileHandle[] = [];
    const bodyFor = async (): Promise<Readable | Buffer | undefined> => {
      if (!staged) return undefined;
      if (staged.data) return staged.data;
      const fh = await open(staged.tmpPath!, 'r');
      handles.push(fh);
      return fh.createReadStream({ autoClose: false, highWaterMark: 256 * 1024 });
    };
    const remoteBodies = new Map<string, Readable | Buffer | undefined>();
    for (const o of owners) if (o.id !== this.self.id && o.status === 'up') remoteBodies.set(o.id, await bodyFor());

    const acked: string[] = [];
    const tasks = owners.map(async (o) => {
      const timer = this.latency.startTimer({ target: o.id === this.self.id ? 'local' : 'remote' });
      try {
        if (o.id === this.self.id) await this.store.commit(entry, staged);
        else if (o.status !== 'up') throw new Error('owner is down');
        else await this.delivery.send(o, entry, remoteBodies.get(o.id));
        timer({ result: 'ok' });
        acked.push(o.id);
        return o.id;
      } catch (err) {
        timer({ result: 'error' });
        this.logger.warn({ key: entry.key, owner: o.id, err: peerError(err) }, 'owner missed a write; hinting');
        throw err;
      }
    });
    const { quorum, all } = firstSuccesses(tasks, w);
    const ok = await quorum.then(() => true, () => false);
    if (ok) await Promise.race([all, new Promise((r) => setTimeout(r, STRAGGLER_GRACE_MS).unref())]);
    const snapshot = [...acked];
    // Hints and clean-up run after the answer when stragglers are still going.
    const finish = all.then(async (results) => {
      await Promise.all(handles.map((fh) => fh.close().catch(() => undefined)));
      const missed = owners.filter((_, i) => results[i].status === 'rejected');
      if (missed.length > 0 && !selfOwner) {
        // Keep the bytes here until every missed owner has them; the hint delivers them.
        await this.store.commit(entry, staged).catch((err: unknown) => this.logger.error({ key: entry.key, err }, 'could not keep a hinted entry'));
      } else if (!selfOwner && staged) {
        await this.store.discard(staged);
      }
      for (const o of missed) await this.handoff.hint(o.id, entry);
    });
    finish.catch((err: unknown) => this.logger.error({ err }, 'post-write bookkeeping failed'));
    if (!ok) await finish;
    return { acked: snapshot, ok };
  }
}
