import { Injectable } from '@nestjs/common';
import { Readable } from 'node:stream';
import { ShoalError } from '../../common/errors.js';
import type { Member } from '../membership/merge.js';
import { CoordinatorService, type StoredFile } from '../replication/coordinator.service.js';
import { ListingService, type Page } from '../replication/listing.service.js';
import { isManifest, ManifestService } from '../replication/manifest.service.js';
import type { Entry, EntryMeta } from '../storage/entry.js';
import type { ByteRange } from '../storage/range.js';
import { RESERVED_PREFIX } from '../storage/keys.js';
import { BodyChecks } from './auth/checksums.js';
import type { RequestBody } from './auth/body.js';
import { S3Error } from './s3-errors.js';

/** Where the S3 API keeps its own records, as ordinary replicated entries (see RESERVED_PREFIX). */
export const BUCKETS_PREFIX = `${RESERVED_PREFIX}buckets/`;
export const UPLOADS_PREFIX = `${RESERVED_PREFIX}uploads/`;
export const PARTS_PREFIX = `${RESERVED_PREFIX}parts/`;

export const objectKey = (bucket: string, key: string): string => `${bucket}/${key}`;

export interface Located {
  entry: Entry;
  holders: Member[];
}

export interface Written {
  stored: StoredFile;
  md5: string;
  checksums: Record<string, string>;
}

/**
 * The S3 front end's only way to the data: the same coordinator and listing as /v1 (DESIGN §2: an S3 object is the
 * Shoal file `bucket/key`). Nothing here touches the local store.
 */
@Injectable()
export class S3StoreService {
  constructor(
    private readonly coordinator: CoordinatorService,
    private readonly listing: ListingService,
    private readonly manifests: ManifestService,
  ) {}

  /** The newest live version of `key`, or undefined (never written, or deleted). */
  async find(key: string): Promise<Located | undefined> {
    const { entry, holders } = await this.coordinator.locate(key);
    return entry && !entry.deleted ? { entry, holders } : undefined;
  }

  /**
   * Streams the bytes of a located version. When a concurrent overwrite freed them between the version query and the
   * stream, the newer version is looked up once (as /v1 does); `relocate` says what was found.
   */
  async open(key: string, found: Located, range?: ByteRange): Promise<{ found: Located; body: Readable }> {
    const open = (f: Located) => (isManifest(f.entry) ? this.manifests.open(f.entry, f.holders, range) : this.coordinator.open(f.entry, f.holders, range));
    try {
      return { found, body: await open(found) };
    } catch (err) {
      if (!(err instanceof ShoalError && err.code === 'BAD_GATEWAY')) throw err;
      const again = await this.find(key);
      if (!again) throw new S3Error('NoSuchKey', 'The specified key does not exist.');
      return { found: again, body: await open(again) };
    }
  }

  /**
   * Stages a request body in full, runs every integrity check (payload SHA-256, Content-MD5, x-amz-checksum-*), and
   * only then commits it to W owners: a body that fails a check is discarded and nothing becomes visible.
   */
  async write(key: string, body: RequestBody, contentType: string, meta: (md5: string) => EntryMeta): Promise<Written> {
    // Fewer than W owners up: 503 before the body is read, as /v1 does.
    this.coordinator.assertWritable(key);
    let staged;
    try {
      staged = await this.coordinator.stage(Readable.from(body.stream), { declaredLength: body.declaredLength, expectedSha256: body.expectedSha256 });
    } catch (err) {
      throw body.checks.failure ?? err;
    }
    let checksums: Record<string, string>;
    try {
      checksums = body.checks.verify();
    } catch (err) {
      await this.coordinator.discardStaged(staged);
      throw err;
    }
    const md5 = body.checks.md5OfBody;
    return { stored: await this.coordinator.commitUpload(key, staged, contentType, meta(md5)), md5, checksums };
  }

  /** Writes bytes produced by the node itself (a copy, an assembled multipart object). */
  async writeStream(key: string, source: AsyncIterable<Buffer>, contentType: string, meta: (md5: string) => EntryMeta): Promise<Written> {
    const checks = new BodyChecks({}, new Map());
    return this.write(key, { stream: checks.tap(source), checks }, contentType, meta);
  }

  /** Tombstones `key`; deleting what does not exist is not an error in S3. */
  async delete(key: string): Promise<void> {
    try {
      await this.coordinator.delete(key);
    } catch (err) {
      if (err instanceof ShoalError && err.code === 'NOT_FOUND') return;
      throw err;
    }
  }

  list(prefix: string, after: string | undefined, limit: number): Promise<Page> {
    return this.listing.listCluster(prefix, after, limit);
  }

  /** The copies this node holds (background sweeps share the work between owners this way). */
  listLocal(prefix: string, after: string | undefined, limit: number): Page {
    return this.listing.listLocal(prefix, after, limit);
  }
}
