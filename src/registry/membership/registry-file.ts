import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWriteFile } from '../../common/fs/atomic-write.js';
import type { ClockSample } from '../../common/protocol/clock-offset.js';
import type { StoredDecommission } from './decommission.js';

/** One node as the registry keeps it (and writes it to `registry.json`). */
export interface StoredNode {
  id: string;
  url: string;
  zone?: string;
  capacityBytes: number;
  freeBytes: number;
  usedBytes: number;
  files: number;
  registeredAt: number;
  lastHeartbeatAt: number;
  /** Set by the node's stop notice (SIGTERM), cleared by its next heartbeat or registration. */
  stoppedAt?: number;
  /** A planned removal; kept across the node's restarts and the registry's. */
  decommission?: StoredDecommission;
  /** this registry's clock minus the node's, from the recent heartbeats that carried the node's clock */
  clockOffsetMs?: number;
  clockSamples?: ClockSample[];
}

export interface StoredState {
  version: 1;
  epoch: number;
  partitionBits: number | null;
  nodes: StoredNode[];
}

/**
 * `DATA_DIR/registry.json`, the registry's persisted membership list. Every write is atomic (a crash leaves the old
 * file or the new one, never half of one) and writes are chained, so two never interleave and each writes the state
 * as it is when its turn comes.
 */
export class RegistryFile {
  private readonly path: string;
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly dataDir: string) {
    this.path = join(dataDir, 'registry.json');
  }

  /** The state last written, or undefined for a new registry (creates DATA_DIR). */
  async load(): Promise<StoredState | undefined> {
    await mkdir(this.dataDir, { recursive: true });
    try {
      return JSON.parse(await readFile(this.path, 'utf8')) as StoredState;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Writes `state()` once every earlier write has finished (or failed). */
  write(state: () => StoredState): Promise<void> {
    this.saving = this.saving.catch(() => undefined).then(() => atomicWriteFile(this.path, JSON.stringify(state())));
    return this.saving;
  }

  /** Resolves once the last write has finished (rejects if it failed). */
  settled(): Promise<void> {
    return this.saving;
  }
}
