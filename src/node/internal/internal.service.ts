import type { Readable } from 'node:stream';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { ShoalError } from '../../common/errors.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { MAX_STORED_KEY_BYTES, validateKey } from '../storage/keys.js';
import { versionTime, type Version } from '../storage/hlc.js';
import { NodeStateService } from '../state/node-state.service.js';
import { LocalStoreService } from '../storage/local-store.service.js';
import { parseRange } from '../storage/range.js';
import { checkEntry, decodeEntry, isPendingEntry, SHA_TRAILER, SIZE_TRAILER } from './entry-header.js';
import type { Entry } from '../storage/entry.js';

/** What a peer may ask of this node's local store. */
@Injectable()
export class InternalService {
  private readonly logger = new Logger(InternalService.name);
  private readonly futureVersions;

  constructor(
    @Inject(APP_CONFIG) private readonly config: NodeConfig,
    private readonly store: LocalStoreService,
    private readonly state: NodeStateService,
    metrics: MetricsService,
  ) {
    this.futureVersions = metrics.counter({
      name: 'shoal_future_versions_total',
      help: 'versions received from peers that lie further ahead of this node\'s clock than MAX_CLOCK_SKEW_MS (accepted, never dropped)',
    });
  }

  /**
   * Owner fencing (replication/fencing.ts): a coordinator proposes the version of a new write. This node's clock
   * observes it (so its own next write is newer), and it answers with what it holds; the coordinator decides.
   * A recovering node answers nothing: it may not yet hold a write it was away for, and its word must not count.
   */
  fence(key: string, version: Version): { held: Version | null } {
    // Stored keys may be longer than /v1 keys (an S3 object `bucket/key`): the same bound as checkEntry's.
    validateKey(key, MAX_STORED_KEY_BYTES);
    this.state.assertNotRecovering();
    this.noteVersion(version, 'fence');
    this.store.clock.observe(version);
    return { held: this.store.get(key)?.version ?? null };
  }

  /**
   * A version far ahead of this node's clock comes from a node whose clock runs fast (or from this node running
   * slow). It is still accepted — dropping it could lose an acknowledged write — but counted and logged.
   */
  private noteVersion(version: Version, via: string): void {
    const ahead = versionTime(version) - Date.now();
    if (ahead <= this.config.maxClockSkewMs) return;
    this.futureVersions.inc();
    this.logger.warn({ version, aheadMs: ahead, via }, 'a peer sent a version far ahead of this node\'s clock');
  }

  /** An entry with its bytes: re-hashed on arrival (a mismatch is refused), fsynced, then applied by LWW. */
  async receiveEntry(header: string, body: Readable & { trailers: Record<string, string | undefined> }): Promise<{ applied: boolean; version: string }> {
    this.state.assertMayWrite();
    let entry = decodeEntry(header);
    this.noteVersion(entry.version, 'entry');
    if (entry.deleted) throw new ShoalError('BAD_REQUEST', 'a tombstone carries no body; POST it to /internal/tombstones');
    const pending = isPendingEntry(entry);
    const staged = await this.store.stage(
      body,
      pending
        ? { verify: (sha, size) => checkTrailers(body.trailers, sha, size) }
        : { expectedSha256: entry.sha256, declaredLength: entry.size },
    );
    if (pending) entry = { ...entry, sha256: staged.sha256, size: staged.size };
    const result = await this.store.commit(entry, staged);
    return { applied: result.applied, version: result.applied ? entry.version : (result.previous?.version ?? entry.version) };
  }

  /** A tombstone, or a live entry whose blob is already held here (no need to send the bytes twice). */
  async applyEntry(raw: Entry): Promise<{ applied: boolean; version: string }> {
    this.state.assertMayWrite();
    const entry = checkEntry(raw);
    this.noteVersion(entry.version, 'tombstone');
    if (!entry.deleted && !(await this.store.hasBlob(entry.sha256))) throw new ShoalError('CONFLICT', `blob ${entry.sha256} is not held here; send the bytes`);
    const result = await this.store.commit(entry);
    return { applied: result.applied, version: result.applied ? entry.version : (result.previous?.version ?? entry.version) };
  }

  versions(keys: string[]): { entries: (Entry | null)[] } {
    this.state.assertNotRecovering();
    return { entries: keys.map((k) => this.store.get(k) ?? null) };
  }

  scan(prefix: string, after: string | undefined, limit: number): { entries: Entry[]; truncated: boolean } {
    this.state.assertNotRecovering();
    return this.store.scanPage(prefix, after, limit);
  }

  async openBlob(sha256: string, rangeHeader?: string): Promise<{ status: number; headers: Record<string, string>; stream: Readable }> {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new ShoalError('BAD_REQUEST', 'not a SHA-256');
    const size = await this.store.blobSize(sha256);
    if (size === undefined) throw new ShoalError('NOT_FOUND', `blob ${sha256} is not held here`);
    const range = parseRange(rangeHeader, size);
    const stream = this.store.openBlob(sha256, size, range);
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'content-length': String(range ? range.end - range.start + 1 : size) };
    if (range) headers['content-range'] = `bytes ${range.start}-${range.end}/${size}`;
    return { status: range ? 206 : 200, headers, stream };
  }
}

/** A pipelined upload is complete only when the coordinator's trailers name exactly what arrived. */
function checkTrailers(trailers: Record<string, string | undefined>, sha256: string, size: number): void {
  const declared = trailers[SHA_TRAILER];
  if (!declared) throw new ShoalError('INCOMPLETE_BODY', 'the upload ended without its checksum trailer; nothing was stored');
  if (declared !== sha256) throw new ShoalError('CHECKSUM_MISMATCH', `received bytes hash to ${sha256}, the coordinator sent ${declared}`);
  if (trailers[SIZE_TRAILER] !== String(size)) throw new ShoalError('INCOMPLETE_BODY', `received ${size} bytes, the coordinator sent ${trailers[SIZE_TRAILER]}`);
}
