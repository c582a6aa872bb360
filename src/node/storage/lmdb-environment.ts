import { join } from 'node:path';
import { open, type Database, type DatabaseOptions, type RootDatabase } from 'lmdb';

/**
 * The one LMDB environment of a node, `DATA_DIR/meta/` (DESIGN §4). The entry index and the typed repositories
 * (hints, sync state, quarantine) each open their named databases in it; no `Database` handle leaves storage.
 * Database names are part of the on-disk layout: existing data dirs must keep opening.
 */
export class LmdbEnvironment {
  readonly root: RootDatabase;

  constructor(readonly dataDir: string) {
    this.root = open({ path: join(dataDir, 'meta'), maxDbs: 16, mapSize: 2 ** 34, remapChunks: true });
  }

  openDB<V, K extends string | number | (string | number)[]>(name: string, options: Omit<DatabaseOptions, 'name'> = {}): Database<V, K> {
    return this.root.openDB<V, K>({ ...options, name });
  }

  /**
   * Runs `fn` in one write transaction, batched with others by lmdb-js (group commit: one fsync for many), and
   * resolves once the commit is on disk. lmdb-js's `overlappingSync` (its default on Linux) resolves a transaction
   * when it is committed — visible — and flushes it afterwards, overlapping the next one; after a power loss LMDB
   * reopens at the last flushed transaction. A write is acknowledged, and a pack segment its commit stopped
   * referencing may be deleted, only after the flush: hence the wait for `flushed` (the flush of the latest commit,
   * which covers this one).
   */
  async transaction<T>(fn: () => T): Promise<T> {
    const result = await this.root.transaction(fn);
    await this.root.flushed;
    return result;
  }

  /** Runs `fn` in a write transaction of its own, committed before this returns (start-up migrations). */
  transactionSync<T>(fn: () => T): T {
    return this.root.transactionSync(fn);
  }

  async close(): Promise<void> {
    await this.root.close();
  }
}
