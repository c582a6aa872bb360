import type { Database } from 'lmdb';
import type { Entry } from './entry.js';
import type { Version } from './hlc.js';
import type { LmdbEnvironment } from './lmdb-environment.js';
import type { HintKey, HintRepository, QuarantineRepository, SyncState, SyncStateRepository } from './repositories.js';

/*
 * The typed repositories in the node's LMDB environment. The database names (`aux-<name>`) are those the layers above
 * opened through `auxiliary(name)` before: data dirs written by earlier versions keep their hints and sync state.
 */

export class LmdbHintRepository implements HintRepository {
  private readonly db: Database<Version, HintKey>;

  constructor(env: LmdbEnvironment) {
    this.db = env.openDB('aux-hints');
  }

  get(hint: HintKey): Version | undefined {
    return this.db.get(hint);
  }

  doesExist(hint: HintKey): boolean {
    return this.db.doesExist(hint);
  }

  put(hint: HintKey, version: Version): Promise<boolean> {
    return this.db.put(hint, version);
  }

  remove(hint: HintKey): Promise<boolean> {
    return this.db.remove(hint);
  }

  removeSync(hint: HintKey): boolean {
    return this.db.removeSync(hint);
  }

  transaction<T>(fn: () => T): Promise<T> {
    return this.db.transaction(fn);
  }

  getCount(): number {
    return this.db.getCount();
  }

  getRange(options: { limit?: number } = {}): Iterable<{ key: HintKey; value: Version }> {
    return this.db.getRange(options);
  }
}

export class LmdbSyncStateRepository implements SyncStateRepository {
  private readonly db: Database<SyncState, string>;

  constructor(env: LmdbEnvironment) {
    this.db = env.openDB('aux-sync');
  }

  get(): SyncState | undefined {
    return this.db.get('state');
  }

  async put(state: SyncState): Promise<void> {
    await this.db.put('state', state);
  }
}

export class LmdbQuarantineRepository implements QuarantineRepository {
  private readonly db: Database<Entry, string>;

  constructor(env: LmdbEnvironment) {
    this.db = env.openDB('aux-quarantine');
  }

  async put(entry: Entry): Promise<void> {
    await this.db.put(entry.key, entry);
  }

  count(): number {
    return this.db.getCount();
  }

  list(limit: number): Entry[] {
    return [...this.db.getRange({ limit })].map((r) => r.value);
  }
}
