import type { Entry } from './entry.js';
import type { Version } from './hlc.js';

/** A hint's key: the owner that missed a write, and the key it missed. */
export type HintKey = [target: string, key: string];

/**
 * Hinted handoff's records, "owner X missed key K at version V" (replication/handoff.service.ts), kept in the
 * metadata store beside the entries (LMDB database `aux-hints`). Iterated in (target, key) order.
 *
 * The method names are those the handoff service already calls (they are LMDB's), so the service changed by one
 * injection only; `transaction` runs `fn` atomically with respect to the other writes of the repository.
 */
export interface HintRepository {
  get(hint: HintKey): Version | undefined;
  doesExist(hint: HintKey): boolean;
  put(hint: HintKey, version: Version): Promise<boolean>;
  remove(hint: HintKey): Promise<boolean>;
  /** Only inside {@link transaction}. */
  removeSync(hint: HintKey): boolean;
  transaction<T>(fn: () => T): Promise<T>;
  getCount(): number;
  getRange(options?: { limit?: number }): Iterable<{ key: HintKey; value: Version }>;
}

export interface SyncState {
  /** when every owned partition was last compared with a co-owner */
  lastFullSyncAt: number;
}

/** Anti-entropy's persisted progress (LMDB database `aux-sync`, key `state`): what start-up recovery judges by. */
export interface SyncStateRepository {
  get(): SyncState | undefined;
  put(state: SyncState): Promise<void>;
}

/**
 * Entries recovery kept aside instead of resurrecting them (DESIGN §3 Tombstone GC), by key (LMDB database
 * `aux-quarantine`); their bytes are kept by the blob store ({@link BlobStore.keepCopy}).
 */
export interface QuarantineRepository {
  put(entry: Entry): Promise<void>;
  count(): number;
  /** In key order, at most `limit`. */
  list(limit: number): Entry[];
}

export const HINT_REPOSITORY = Symbol('HINT_REPOSITORY');
export const SYNC_STATE_REPOSITORY = Symbol('SYNC_STATE_REPOSITORY');
export const QUARANTINE_REPOSITORY = Symbol('QUARANTINE_REPOSITORY');
