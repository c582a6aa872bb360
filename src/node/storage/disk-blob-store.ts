import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, mkdir, open, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fsyncDir } from '../../common/fs/atomic-write.js';
import type { BlobStore, StagedReader } from './blob-store.js';
import type { ByteRange } from './range.js';
import { stageBlob, type StagedBlob, type StageOptions } from './staging.js';

/**
 * Blob files are read in chunks this big (at most: a short range reads only its bytes). Against 256 KiB, a 1 GiB GET
 * ran at 575–592 MiB/s instead of 378–427 (docs/benchmarks.md): a fourth of the stream hops, hash updates and socket
 * writes per byte. A read in flight holds about three chunks (read ahead, held back by the verifying stream, queued on
 * the socket), whatever the file's size.
 */
const READ_CHUNK = 1024 * 1024;

/**
 * The {@link BlobStore} on disk: `blobs/ab/cd/<sha256>`, `tmp/` for uploads in flight and `quarantine/` for blobs that
 * failed a hash check (`<sha256>.<ms>`) or were kept aside by recovery (`<sha256>.entry`). A blob is written to tmp/,
 * fsynced, renamed into place and its directory fsynced: a crash leaves the old state or the new, never a torn file.
 */
export class DiskBlobStore implements BlobStore {
  readonly blobsDir: string;
  readonly tmpDir: string;
  readonly quarantineDir: string;

  constructor(dataDir: string) {
    this.blobsDir = join(dataDir, 'blobs');
    this.tmpDir = join(dataDir, 'tmp');
    this.quarantineDir = join(dataDir, 'quarantine');
  }

  async init(): Promise<void> {
    // Anything in tmp/ is an upload that never committed (the process died mid-write): it was never visible.
    await rm(this.tmpDir, { recursive: true, force: true });
    await Promise.all([this.tmpDir, this.blobsDir, this.quarantineDir].map((d) => mkdir(d, { recursive: true })));
  }

  pathOf(sha256: string): string {
    return join(this.blobsDir, sha256.slice(0, 2), sha256.slice(2, 4), sha256);
  }

  stage(source: Readable | AsyncIterable<Buffer>, opts: StageOptions): Promise<StagedBlob> {
    return stageBlob(source, join(this.tmpDir, randomUUID()), opts);
  }

  async discard(staged: StagedBlob): Promise<void> {
    if (staged.tmpPath) await unlink(staged.tmpPath).catch(() => undefined);
  }

  async has(sha256: string): Promise<boolean> {
    try {
      await stat(this.pathOf(sha256));
      return true;
    } catch {
      return false;
    }
  }

  size(sha256: string): Promise<number | undefined> {
    return stat(this.pathOf(sha256)).then((s) => s.size, () => undefined);
  }

  /** Moves the fsynced temp file into place and makes the rename durable. An existing equal blob is kept as is. */
  async place(staged: StagedBlob): Promise<void> {
    if (!staged.tmpPath) return;
    const { tmpPath, sha256 } = staged;
    if (await this.has(sha256)) {
      await unlink(tmpPath).catch(() => undefined);
      return;
    }
    const dir = join(this.blobsDir, sha256.slice(0, 2), sha256.slice(2, 4));
    await mkdir(dir, { recursive: true });
    await rename(tmpPath, this.pathOf(sha256));
    await fsyncDir(dir);
  }

  /** One descriptor, opened now: it survives the rename of {@link place}; each stream reads it by position. */
  async openStaged(staged: StagedBlob): Promise<StagedReader> {
    if (staged.data) {
      const data = staged.data;
      return { stream: () => Readable.from([data]), close: async () => undefined };
    }
    const fh = await open(staged.tmpPath!, 'r');
    return {
      stream: () => fh.createReadStream({ start: 0, autoClose: false, highWaterMark: READ_CHUNK }),
      close: () => fh.close().catch(() => undefined),
    };
  }

  open(sha256: string, range?: ByteRange): Readable {
    return createReadStream(this.pathOf(sha256), { start: range?.start, end: range?.end, highWaterMark: READ_CHUNK });
  }

  async remove(sha256: string): Promise<void> {
    await unlink(this.pathOf(sha256)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  async quarantine(sha256: string): Promise<void> {
    await rename(this.pathOf(sha256), join(this.quarantineDir, `${sha256}.${Date.now()}`)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /** A hard link (no copy) for a file blob; best effort, as before: the entry itself is what recovery records. */
  async keepCopy(sha256: string, inline?: Buffer): Promise<void> {
    const dest = join(this.quarantineDir, `${sha256}.entry`);
    if (inline) await writeFile(dest, inline).catch(() => undefined);
    else await link(this.pathOf(sha256), dest).catch(() => undefined);
  }

  async *list(): AsyncGenerator<string> {
    for (const a of await readdirOrEmpty(this.blobsDir)) {
      for (const b of await readdirOrEmpty(join(this.blobsDir, a))) {
        for (const name of await readdirOrEmpty(join(this.blobsDir, a, b))) {
          if (/^[0-9a-f]{64}$/.test(name)) yield name;
        }
      }
    }
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
