import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir } from '../../common/fs/atomic-write.js';

/**
 * Where blob bytes live on disk: `blobs/ab/cd/<sha256>` (content-addressed, so equal files are stored once),
 * `tmp/` for uploads in flight and `quarantine/` for blobs that failed a hash check. Knows nothing of metadata.
 */
export class BlobFiles {
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

  newTmpPath(): string {
    return join(this.tmpDir, randomUUID());
  }

  async exists(sha256: string): Promise<boolean> {
    try {
      await stat(this.pathOf(sha256));
      return true;
    } catch {
      return false;
    }
  }

  /** Moves a fsynced temp file into place and makes the rename durable. An existing equal blob is kept as is. */
  async place(tmpPath: string, sha256: string): Promise<void> {
    const dest = this.pathOf(sha256);
    if (await this.exists(sha256)) {
      await unlink(tmpPath).catch(() => undefined);
      return;
    }
    const dir = join(this.blobsDir, sha256.slice(0, 2), sha256.slice(2, 4));
    await mkdir(dir, { recursive: true });
    await rename(tmpPath, dest);
    await fsyncDir(dir);
  }

  async remove(sha256: string): Promise<void> {
    await unlink(this.pathOf(sha256)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /** Moves a blob that failed its hash check aside, so it is never served again but an operator can inspect it. */
  async quarantine(sha256: string): Promise<void> {
    await rename(this.pathOf(sha256), join(this.quarantineDir, `${sha256}.${Date.now()}`)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /** Every blob on disk (for orphan collection at start-up and for the scrubber). */
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
