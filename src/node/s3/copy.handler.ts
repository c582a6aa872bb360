import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { mapLimit } from '../../common/async/map-limit.js';
import { contentSize, isManifest } from '../replication/manifest.service.js';
import type { Entry, EntryMeta } from '../storage/entry.js';
import { BucketHandler } from './bucket.handler.js';
import { contentTypeOf, matches, ObjectHandler } from './object.handler.js';
import { etagOf, isoTime, META_MD5, metaFromHeaders, userVisibleMeta } from './object-meta.js';
import { F_INITIATED, F_KEY, partKey, uploadKey, writeAssembled } from './upload-records.js';
import { S3Error } from './s3-errors.js';
import { S3StoreService, type Located } from './s3-store.service.js';
import { xmlResponse, type S3Context, type S3Response } from './s3-context.js';
import { toXml } from './xml.js';
import type { ByteRange } from '../storage/range.js';

export interface CopySource {
  bucket: string;
  key: string;
  /** the Shoal key */
  shoalKey: string;
  found: Located;
}

/** CopyObject; the source lookup is shared with UploadPartCopy. */
@Injectable()
export class CopyHandler {
  constructor(
    private readonly store: S3StoreService,
    private readonly buckets: BucketHandler,
  ) {}

  /** `x-amz-copy-source: [/]bucket/key[?versionId=null]`, URL-encoded; its x-amz-copy-source-if-* conditions. */
  async source(ctx: S3Context): Promise<CopySource> {
    let raw = String(ctx.req.headers['x-amz-copy-source']);
    const q = raw.indexOf('?');
    if (q >= 0) {
      const versionId = new URLSearchParams(raw.slice(q + 1)).get('versionId');
      if (versionId !== null && versionId !== 'null') throw new S3Error('InvalidArgument', 'this bucket is unversioned: the only versionId is null');
      raw = raw.slice(0, q);
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(raw).replace(/^\//, '');
    } catch {
      throw new S3Error('InvalidArgument', 'x-amz-copy-source is not valid percent-encoded UTF-8');
    }
    const slash = decoded.indexOf('/');
    if (slash <= 0) throw new S3Error('InvalidArgument', 'x-amz-copy-source must be bucket/key');
    const bucket = decoded.slice(0, slash);
    const key = decoded.slice(slash + 1);
    await this.buckets.require(bucket);
    const shoalKey = ObjectHandler.keyOf(bucket, key);
    const found = await this.store.find(shoalKey);
    if (!found) throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: key });
    const h = ctx.req.headers;
    const etag = etagOf(found.entry);
    const failed = () => new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
    const ifMatch = h['x-amz-copy-source-if-match'];
    const ifNoneMatch = h['x-amz-copy-source-if-none-match'];
    if (typeof ifMatch === 'string' && !matches(ifMatch, etag)) throw failed();
    if (typeof ifNoneMatch === 'string' && matches(ifNoneMatch, etag)) throw failed();
    const modified = Math.floor(found.entry.updatedAt / 1000) * 1000;
    const since = h['x-amz-copy-source-if-modified-since'];
    const unmodified = h['x-amz-copy-source-if-unmodified-since'];
    if (typeof since === 'string' && !(modified > Date.parse(since))) throw failed();
    if (typeof unmodified === 'string' && modified > Date.parse(unmodified)) throw failed();
    return { bucket, key, shoalKey, found };
  }

  /**
   * The stored entry whose content is exactly `range` of the source (all of it without one) and whose MD5 is known:
   * the source itself when it is a plain object, or the one part of a multipart source the range covers exactly.
   */
  async wholePiece(src: CopySource, range?: ByteRange): Promise<Located | undefined> {
    const e = src.found.entry;
    const size = contentSize(e);
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    if (!isManifest(e)) return start === 0 && end === size - 1 && e.meta?.[META_MD5] ? src.found : undefined;
    let offset = 0;
    for (const part of (await this.store.readManifest(src.found)).parts) {
      if (offset === start && offset + part.size - 1 === end) {
        const found = await this.store.find(part.key);
        return found && found.entry.sha256 === part.sha256 && found.entry.meta?.[META_MD5] ? found : undefined;
      }
      offset += part.size;
      if (offset > start) return undefined;
    }
    return undefined;
  }

  /** Streams the source's bytes (or a range of them) into a new write of the destination. */
  async openSource(src: CopySource, range?: ByteRange): Promise<{ body: AsyncIterable<Buffer>; found: Located }> {
    const { body, found } = await this.store.open(src.shoalKey, src.found, range);
    return { body, found };
  }

  /**
   * A multipart source: a completed upload of its own for the copy, whose part entries reference the source parts'
   * blobs (no byte is copied), then a manifest of them. The copy's parts belong to the copy alone, so the sweeper
   * frees the source's parts when the source goes and the copy's when the copy goes, as for any upload.
   */
  private async copyAssembled(src: CopySource, bucket: string, key: string, contentType: string, meta: EntryMeta): Promise<Entry> {
    const manifest = await this.store.readManifest(src.found);
    const uploadId = randomBytes(16).toString('hex');
    const record = await this.store.writeRecord(uploadKey(bucket, uploadId), contentType, { ...meta, [F_KEY]: key, [F_INITIATED]: String(Date.now()) });
    const parts: Entry[] = [];
    try {
      await mapLimit([...manifest.parts.keys()], 16, async (i) => {
        const part = manifest.parts[i];
        const found = await this.store.find(part.key);
        if (!found || found.entry.sha256 !== part.sha256) throw new S3Error('InternalError', 'The source object changed during the copy. Please try again.');
        parts[i] = (await this.store.writeReference(partKey(uploadId, i + 1), found, 'application/octet-stream', { [META_MD5]: found.entry.meta?.[META_MD5] ?? '' })).entry;
      });
      return await writeAssembled(this.store, ObjectHandler.keyOf(bucket, key), record.entry, parts);
    } catch (err) {
      // Nothing of a failed copy stays behind (best effort: what is left is an upload in progress, listed and abortable).
      await mapLimit(parts.filter(Boolean), 16, (p) => this.store.delete(p.key)).catch(() => undefined);
      await this.store.delete(record.entry.key).catch(() => undefined);
      throw err;
    }
  }

  async copy(ctx: S3Context): Promise<S3Response> {
    await this.buckets.require(ctx.bucket);
    const dest = ObjectHandler.keyOf(ctx.bucket, ctx.key);
    const src = await this.source(ctx);
    const replace = String(ctx.req.headers['x-amz-metadata-directive'] ?? 'COPY').toUpperCase() === 'REPLACE';
    if (!replace && src.shoalKey === dest) {
      throw new S3Error('InvalidRequest', 'This copy request is illegal because it is trying to copy an object to itself without changing the object\'s metadata, storage class, website redirect location or encryption attributes.');
    }
    const e = src.found.entry;
    const contentType = replace ? contentTypeOf(ctx.req.headers) : e.contentType;
    const meta = replace ? metaFromHeaders(ctx.req.headers) : userVisibleMeta(e);
    // By reference: the copy names the source's content (its blob, or its parts), and no byte travels to an owner
    // that already holds it. Blobs are reference-counted by entry on every node, so deleting the source frees nothing
    // the copy uses.
    const copied = isManifest(e)
      ? await this.copyAssembled(src, ctx.bucket, ctx.key, contentType, meta)
      : (await this.store.writeReference(dest, src.found, contentType, e.meta?.[META_MD5] ? { ...meta, [META_MD5]: e.meta[META_MD5] } : meta)).entry;
    return xmlResponse(toXml('CopyObjectResult', { LastModified: isoTime(copied.updatedAt), ETag: `"${etagOf(copied)}"` }));
  }
}
