import { Injectable } from '@nestjs/common';
import { Readable } from 'node:stream';
import { ShoalError } from '../../common/errors.js';
import type { Member } from '../membership/merge.js';
import { ReadCoordinatorService } from '../replication/read-coordinator.service.js';
import { WriteCoordinatorService, type StoredFile } from '../replication/write-coordinator.service.js';
import { ListingService, type Page } from '../replication/listing.service.js';
import { isManifest, ManifestService, type Manifest } from '../replication/manifest.service.js';
import type { WriteCondition } from '../replication/fencing.js';
import type { Entry, EntryMeta } from '../storage/entry.js';
import type { ByteRange } from '../storage/range.js';
import { RESERVED_PREFIX } from '../storage/keys.js';
import { BodyChecks } from './auth/checksums.js';
import type { RequestBody } from './auth/body.js';
import { META_MD5 } from './object-meta.js';
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
 * The S3 front end's only way to the data: the same coordinators and listing as /v1 (DESIGN §2: an S3 object is the
 * Shoal file `bucket/key`). Nothing here touches the local store.
 */
@Injectable()
export class S3StoreService {
  constructor(
    private readonly writes: WriteCoordinatorService,
    private readonly reads: ReadCoordinatorService,
    private readonly listing: ListingService,
    private readonly manifests: ManifestService,
  ) {}

  /** The newest live version of `key`, or undefined (never written, or deleted). */
  async find(key: string): Promise<Located | undefined> {
    const { entry, holders } = await this.reads.locate(key);
    return entry && !entry.deleted ? { entry, holders } : undefined;
  }

  /**
   * Streams the bytes of a located version. When a concurrent overwrite freed them between the version query and the
   * stream, the newer version is looked up once (as /v1 does); `relocate` says what was found.
   */
  async open(key: string, found: Located, range?: ByteRange): Promise<{ found: Located; body: Readable }> {
    const open = (f: Located) => (isManifest(f.entry) ? this.manifests.open(f.entry, f.holders, range) : this.reads.open(f.entry, f.holders, range));
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
   * Streams a request body to the owners as it arrives (as /v1 PUT does) while every integrity check runs on it:
   * payload SHA-256, aws-chunked signatures, Content-MD5, x-amz-checksum-*. A check that fails — the last ones only
   * once the body has ended — fails the body itself, so the replicator aborts every owner's leg before any trailer
   * is sent: no owner commits and nothing becomes visible. The MD5 (the S3 ETag) joins `meta` at the end, in the
   * trailer that lets the owners commit.
   */
  async write(key: string, body: RequestBody, contentType: string, meta: EntryMeta, condition?: WriteCondition): Promise<Written> {
    let checksums: Record<string, string> = {};
    let md5 = '';
    async function* checked(): AsyncGenerator<Buffer> {
      yield* body.stream;
      try {
        checksums = body.checks.verify();
      } catch (err) {
        body.checks.failure = err;
        throw err;
      }
      md5 = body.checks.md5OfBody;
    }
    try {
      const stored = await this.writes.put(key, Readable.from(checked()), {
        contentType,
        declaredLength: body.declaredLength,
        expectedSha256: body.expectedSha256,
        meta,
        lateMeta: () => ({ [META_MD5]: md5 }),
        condition,
      });
      return { stored, md5, checksums };
    } catch (err) {
      throw body.checks.failure ?? err;
    }
  }

  /** Writes bytes produced by the node itself (a copy, an assembled multipart object). */
  writeStream(key: string, source: AsyncIterable<Buffer>, contentType: string, meta: EntryMeta): Promise<Written> {
    const checks = new BodyChecks({}, new Map());
    return this.write(key, { stream: checks.tap(source), checks }, contentType, meta);
  }

  /**
   * A new version of `key` with the content of a located version, by reference: no byte travels to an owner that
   * already holds the blob (CopyObject).
   */
  writeReference(key: string, source: Located, contentType: string, meta: EntryMeta): Promise<StoredFile> {
    return this.writes.putReference(key, source.entry, source.holders, contentType, meta);
  }

  /** Writes one of the S3 API's own records (a bucket, an upload, a receipt): metadata only, no bytes. */
  async writeRecord(key: string, contentType: string, meta: EntryMeta): Promise<StoredFile> {
    return this.writes.put(key, Readable.from([]), { contentType, meta });
  }

  /** The parts a multipart object's manifest lists. */
  readManifest(found: Located): Promise<Manifest> {
    return this.manifests.read(found.entry, found.holders);
  }

  /** Tombstones `key`; deleting what does not exist is not an error in S3. */
  async delete(key: string): Promise<void> {
    try {
      await this.writes.delete(key);
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
