import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { BlobStore, StagedReader } from './blob-store.js';
import type { ByteRange } from './range.js';
import { stageInto, type StagedBlob, type StageOptions } from './staging.js';

/**
 * The {@link BlobStore} in memory, for specs: staging runs the same checks as the disk's (hash, length, size limit,
 * inline threshold), blobs are kept by hash. A new LocalStoreService over the same instance is a restart: `init`
 * empties staging as the disk's empties tmp/. `tamper` lets a spec corrupt a blob as a failing disk would.
 */
export class MemoryBlobStore implements BlobStore {
  private readonly blobs = new Map<string, Buffer>();
  private readonly staging = new Map<string, Buffer>();
  /** Blobs moved aside after failing a hash check, and copies kept aside by recovery, by hash. */
  readonly quarantined = new Map<string, Buffer>();
  readonly keptAside = new Map<string, Buffer>();

  init(): Promise<void> {
    this.staging.clear();
    return Promise.resolve();
  }

  stage(source: Readable | AsyncIterable<Buffer>, opts: StageOptions): Promise<StagedBlob> {
    const handle = `memory:${randomUUID()}`;
    const parts: Buffer[] = [];
    return stageInto(
      source,
      async () => ({
        write: async (chunks) => void parts.push(...chunks),
        finish: async () => void this.staging.set(handle, Buffer.concat(parts)),
        abort: async () => void this.staging.delete(handle),
      }),
      handle,
      opts,
    );
  }

  discard(staged: StagedBlob): Promise<void> {
    if (staged.tmpPath) this.staging.delete(staged.tmpPath);
    return Promise.resolve();
  }

  place(staged: StagedBlob): Promise<void> {
    if (!staged.tmpPath) return Promise.resolve();
    const data = this.staging.get(staged.tmpPath);
    this.staging.delete(staged.tmpPath);
    if (data === undefined) return Promise.reject(Object.assign(new Error(`no staged blob ${staged.tmpPath}`), { code: 'ENOENT' }));
    if (!this.blobs.has(staged.sha256)) this.blobs.set(staged.sha256, data);
    return Promise.resolve();
  }

  openStaged(staged: StagedBlob): Promise<StagedReader> {
    const data = staged.data ?? (staged.tmpPath ? this.staging.get(staged.tmpPath) : undefined);
    if (data === undefined) return Promise.reject(Object.assign(new Error(`no staged blob ${staged.tmpPath}`), { code: 'ENOENT' }));
    return Promise.resolve({ stream: () => Readable.from([data]), close: async () => undefined });
  }

  has(sha256: string): Promise<boolean> {
    return Promise.resolve(this.blobs.has(sha256));
  }

  size(sha256: string): Promise<number | undefined> {
    return Promise.resolve(this.blobs.get(sha256)?.length);
  }

  open(sha256: string, range?: ByteRange): Readable {
    const data = this.blobs.get(sha256);
    if (data === undefined) {
      const missing = new Readable({ read() {} });
      process.nextTick(() => missing.destroy(Object.assign(new Error(`ENOENT: no blob ${sha256}`), { code: 'ENOENT' })));
      return missing;
    }
    return Readable.from([range ? data.subarray(range.start, range.end + 1) : data]);
  }

  remove(sha256: string): Promise<void> {
    this.blobs.delete(sha256);
    return Promise.resolve();
  }

  quarantine(sha256: string): Promise<void> {
    const data = this.blobs.get(sha256);
    if (data !== undefined) this.quarantined.set(sha256, data);
    this.blobs.delete(sha256);
    return Promise.resolve();
  }

  keepCopy(sha256: string, inline?: Buffer): Promise<void> {
    const data = inline ?? this.blobs.get(sha256);
    if (data !== undefined) this.keptAside.set(sha256, Buffer.from(data));
    return Promise.resolve();
  }

  async *list(): AsyncGenerator<string> {
    yield* [...this.blobs.keys()].sort();
  }

  /** Specs: replaces a blob's bytes as bit rot would (its hash no longer matches). */
  tamper(sha256: string, data: Buffer): void {
    this.blobs.set(sha256, data);
  }

  /** Specs: stores bytes under a hash with no entry referencing them, as a crash between place and commit leaves. */
  putOrphan(sha256: string, data: Buffer): void {
    this.blobs.set(sha256, data);
  }

  /** Specs: uploads staged and neither placed nor discarded. */
  get stagedCount(): number {
    return this.staging.size;
  }
}
