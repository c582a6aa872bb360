import type { Readable } from 'node:stream';
import { Injectable } from '@nestjs/common';
import { ShoalError } from '../../common/errors.js';
import type { Member } from '../membership/merge.js';
import { tombstone, type Entry, type EntryMeta } from '../storage/entry.js';
import { LocalStoreService } from '../storage/local-store.service.js';
import { INLINE_MAX_BYTES, type StagedBlob } from '../storage/staging.js';
import { FenceService } from './fence.service.js';
import type { WriteCondition } from './fencing.js';
import { ReadCoordinatorService } from './read-coordinator.service.js';
import { ReplicatorService, type WriteOutcome } from './replicator.service.js';
import { WriteAdmissionService, type BodyLimits } from './write-admission.service.js';

export interface UploadMeta extends BodyLimits {
  contentType: string;
  /** stored and replicated with the version (S3 object metadata) */
  meta?: EntryMeta;
  /** metadata known only once the whole body has been read (S3's MD5 ETag), added to `meta` before any commit */
  lateMeta?: () => EntryMeta;
  /** a conditional write: checked at the owners under the fence (see fencing.ts WriteCondition) */
  condition?: WriteCondition;
}

export interface StoredFile {
  entry: Entry;
  replicas: number;
  nodes: string[];
}

/**
 * The write side of coordination (DESIGN §3 Upload, Delete): whichever node a client talks to admits the write
 * (before its body is read), claims its version from the owners (owner fencing), has the replicator write it to the
 * owners, and answers once W hold it.
 */
@Injectable()
export class WriteCoordinatorService {
  constructor(
    private readonly admission: WriteAdmissionService,
    private readonly store: LocalStoreService,
    private readonly fence: FenceService,
    private readonly replicator: ReplicatorService,
    private readonly reads: ReadCoordinatorService,
  ) {}

  /** The 503 of a write for callers that stage a body before committing it: refused before it is read. */
  assertWritable(key: string): void {
    this.admission.target(key);
  }

  async put(key: string, body: Readable, meta: UploadMeta): Promise<StoredFile> {
    const { owners, w } = this.admission.target(key);
    this.admission.checkDeclaredLength(meta.declaredLength);
    // Fenced before the body is read: a refused write has sent nothing anywhere.
    const base: Omit<Entry, 'sha256' | 'size'> = { key, version: await this.fence.claim(key, owners, w, meta.condition), contentType: meta.contentType, updatedAt: Date.now(), deleted: false };
    if (meta.meta) base.meta = meta.meta;
    if (meta.condition === undefined && meta.declaredLength !== undefined && meta.declaredLength <= INLINE_MAX_BYTES) {
      // A small body is read whole first (it is kept inline anyway), then sent to each owner as one entry with its
      // bytes — which the peer client batches with the other small writes bound for that owner. Nothing is sent
      // for a body that fails (cut off, checksum). A conditional write keeps the streamed legs: the owners tie the
      // key's grant to that leg (src/node/storage/reservations.ts).
      const staged = await this.store.stage(body, this.admission.stageOptions(meta));
      const entry: Entry = { ...base, sha256: staged.sha256, size: staged.size };
      const extra = meta.lateMeta?.();
      if (extra) entry.meta = { ...base.meta, ...extra };
      return answer(await this.replicator.writeStaged(entry, staged, owners, w), w);
    }
    const token = meta.condition?.token;
    try {
      return answer(await this.replicator.upload(base, body, this.admission.stageOptions(meta), owners, w, meta.lateMeta), w);
    } catch (err) {
      if (token !== undefined) this.fence.release(key, owners, token);
      throw err;
    } finally {
      // The owners' legs give their grants up as they end; this node's own is given up here.
      if (token !== undefined) this.store.reservations.release(key, token);
    }
  }

  /** Receives an upload into tmp/ before its key is known (multipart forms may send the key after the file). */
  stage(body: Readable, limits: BodyLimits): Promise<StagedBlob> {
    return this.store.stage(body, this.admission.stageOptions(limits));
  }

  /** Drops a staged upload that will not be committed (a check after staging failed). */
  discardStaged(staged: StagedBlob): Promise<void> {
    return this.store.discard(staged);
  }

  async commitUpload(key: string, staged: StagedBlob, contentType: string, meta?: EntryMeta): Promise<StoredFile> {
    let target;
    let version: string;
    try {
      target = this.admission.target(key);
      version = await this.fence.claim(key, target.owners, target.w);
    } catch (err) {
      await this.store.discard(staged);
      throw err;
    }
    const entry: Entry = { key, version, sha256: staged.sha256, size: staged.size, contentType, updatedAt: Date.now(), deleted: false };
    if (meta) entry.meta = meta;
    return answer(await this.replicator.writeStaged(entry, staged, target.owners, target.w), target.w);
  }

  /**
   * A new version of `key` with the content of `source` (a copy): the owners reference the blob they already hold,
   * and only an owner lacking it is sent the bytes, read from the source's `holders`.
   */
  async putReference(key: string, source: Entry, holders: Member[], contentType: string, meta?: EntryMeta): Promise<StoredFile> {
    const { owners, w } = this.admission.target(key);
    const entry: Entry = { key, version: await this.fence.claim(key, owners, w), sha256: source.sha256, size: source.size, contentType, updatedAt: Date.now(), deleted: false };
    if (meta) entry.meta = meta;
    return answer(await this.replicator.writeReference(entry, owners, w, () => this.reads.open(source, holders)), w);
  }

  async delete(key: string): Promise<void> {
    const { owners, w } = this.admission.target(key);
    const { entry } = await this.reads.locate(key);
    if (!entry || entry.deleted) throw new ShoalError('NOT_FOUND', `no live version of "${key}"`);
    const version = await this.fence.claim(key, owners, w);
    answer(await this.replicator.write(tombstone(key, version, Date.now()), owners, w), w);
  }
}

/**
 * W acknowledgements make the answer. Fewer is 503: with no remote owner having committed, nothing was written
 * anywhere; otherwise those owners keep it and it may spread (`indeterminate: true`, the one case README names).
 * Nothing written because every owner that answered is out of disk space is 507, as for a large upload.
 */
function answer(outcome: WriteOutcome, w: number): StoredFile {
  if (!outcome.ok && !outcome.uncertain && outcome.outOfSpace) {
    throw new ShoalError('INSUFFICIENT_STORAGE', 'the owners of this key are out of disk space; nothing was stored');
  }
  if (!outcome.ok) {
    const n = outcome.acked.length;
    const detail = outcome.uncertain
      ? `only ${n} of the ${w} copies needed were confirmed; an owner may hold the write all the same, so it may or may not survive`
      : `fewer than the ${w} copies needed could be written; nothing was written`;
    throw new ShoalError('INSUFFICIENT_REPLICAS', detail, { retryAfter: 5, replicas: n, indeterminate: outcome.uncertain }, { 'Retry-After': '5' });
  }
  return { entry: outcome.entry, replicas: outcome.acked.length, nodes: outcome.acked };
}
