import type { Entry } from './entry.js';
import type { Version } from './hlc.js';
import { compareKeys } from './keys.js';
import type { HintKey, HintRepository, QuarantineRepository, SyncState, SyncStateRepository } from './repositories.js';

/** The typed repositories in memory, for specs: same answers and the same order as the LMDB ones. */

export class MemoryHintRepository implements HintRepository {
  /** By `target \0 key`; sorted on read in LMDB's order of the (target, key) pair. */
  private readonly hints = new Map<string, { key: HintKey; value: Version }>();

  get(hint: HintKey): Version | undefined {
    return this.hints.get(id(hint))?.value;
  }

  doesExist(hint: HintKey): boolean {
    return this.hints.has(id(hint));
  }

  put(hint: HintKey, version: Version): Promise<boolean> {
    this.hints.set(id(hint), { key: [hint[0], hint[1]], value: version });
    return Promise.resolve(true);
  }

  remove(hint: HintKey): Promise<boolean> {
    return Promise.resolve(this.removeSync(hint));
  }

  removeSync(hint: HintKey): boolean {
    return this.hints.delete(id(hint));
  }

  /** Nothing interleaves with a synchronous `fn` in one process: that is the atomicity LMDB gives it. */
  transaction<T>(fn: () => T): Promise<T> {
    return Promise.resolve().then(fn);
  }

  getCount(): number {
    return this.hints.size;
  }

  getRange(options: { limit?: number } = {}): Iterable<{ key: HintKey; value: Version }> {
    const all = [...this.hints.values()].sort((a, b) => compareKeys(a.key[0], b.key[0]) || compareKeys(a.key[1], b.key[1]));
    return all.slice(0, options.limit ?? all.length).map((h) => ({ key: [h.key[0], h.key[1]], value: h.value }));
  }
}

export class MemorySyncStateRepository implements SyncStateRepository {
  private state?: SyncState;

  get(): SyncState | undefined {
    return this.state && { ...this.state };
  }

  put(state: SyncState): Promise<void> {
    this.state = { ...state };
    return Promise.resolve();
  }
}

export class MemoryQuarantineRepository implements QuarantineRepository {
  private readonly entries = new Map<string, Entry>();

  put(entry: Entry): Promise<void> {
    this.entries.set(entry.key, structuredClone(entry));
    return Promise.resolve();
  }

  count(): number {
    return this.entries.size;
  }

  list(limit: number): Entry[] {
    return [...this.entries.values()].sort((a, b) => compareKeys(a.key, b.key)).slice(0, limit).map((e) => structuredClone(e));
  }
}

function id([target, key]: HintKey): string {
  return `${target}\u0000${key}`;
}
