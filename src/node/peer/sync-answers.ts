import { Injectable } from '@nestjs/common';
import { ShoalError } from '../../common/errors.js';
import type { DigestAnswer, EntryPage } from './wire.js';

/** The sync layer's answers to a co-owner's anti-entropy requests (AntiEntropyService implements it). */
export interface SyncAnswers {
  /** Step 1: equal roots, or this node's digests of the partitions asked about. */
  answerDigests(partitions: string, root: string, askerRecovering: boolean): DigestAnswer;
  /** Step 2: a page of this node's entries of one partition (tombstones included), in key order. */
  answerEntries(partition: number, after: string | undefined, limit: number, askerRecovering: boolean): EntryPage;
}

/**
 * Where the `/internal/sync` routes find their answers. The peer layer serves the routes but sits below sync, so —
 * as a Garage RPC endpoint gets its handler from the layer above (`Endpoint::set_handler`) — the sync module hands
 * its answers in once, at module init ({@link serve}); imports keep pointing downward and nothing is assignable.
 */
@Injectable()
export class SyncEndpoint implements SyncAnswers {
  private handler?: SyncAnswers;

  /** Called once, by the sync module. */
  serve(handler: SyncAnswers): void {
    if (this.handler) throw new Error('the sync endpoint already has its handler');
    this.handler = handler;
  }

  answerDigests(partitions: string, root: string, askerRecovering: boolean): DigestAnswer {
    return this.answers().answerDigests(partitions, root, askerRecovering);
  }

  answerEntries(partition: number, after: string | undefined, limit: number, askerRecovering: boolean): EntryPage {
    return this.answers().answerEntries(partition, after, limit, askerRecovering);
  }

  private answers(): SyncAnswers {
    if (!this.handler) throw new ShoalError('NOT_READY', 'this node is starting: its sync layer is not serving yet', { retryAfter: 1 }, { 'Retry-After': '1' });
    return this.handler;
  }
}
