import { Injectable } from '@nestjs/common';
import { BucketHandler } from './bucket.handler.js';
import { contentTypeOf, matches, ObjectHandler } from './object.handler.js';
import { etagOf, isoTime, META_ETAG, META_MD5, META_PARTS, metaFromHeaders, userVisibleMeta } from './object-meta.js';
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

  /** Streams the source's bytes (or a range of them) into a new write of the destination. */
  async openSource(src: CopySource, range?: ByteRange): Promise<{ body: AsyncIterable<Buffer>; found: Located }> {
    const { body, found } = await this.store.open(src.shoalKey, src.found, range);
    return { body, found };
  }

  async copy(ctx: S3Context): Promise<S3Response> {
    await this.buckets.require(ctx.bucket);
    const dest = ObjectHandler.keyOf(ctx.bucket, ctx.key);
    const src = await this.source(ctx);
    const replace = String(ctx.req.headers['x-amz-metadata-directive'] ?? 'COPY').toUpperCase() === 'REPLACE';
    if (!replace && src.shoalKey === dest) {
      throw new S3Error('InvalidRequest', 'This copy request is illegal because it is trying to copy an object to itself without changing the object\'s metadata, storage class, website redirect location or encryption attributes.');
    }
    const { body, found } = await this.openSource(src);
    const e = found.entry;
    const contentType = replace ? contentTypeOf(ctx.req.headers) : e.contentType;
    const meta = replace ? metaFromHeaders(ctx.req.headers) : userVisibleMeta(e);
    // A copy of a multipart object keeps its ETag and part boundaries (same bytes, same parts).
    if (e.meta?.[META_ETAG]) meta[META_ETAG] = e.meta[META_ETAG];
    if (e.meta?.[META_PARTS]) meta[META_PARTS] = e.meta[META_PARTS];
    const written = await this.store.writeStream(dest, body, contentType, (md5) => ({ ...meta, [META_MD5]: md5 }));
    const etag = written.stored.entry.meta?.[META_ETAG] ?? written.md5;
    return xmlResponse(toXml('CopyObjectResult', { LastModified: isoTime(written.stored.entry.updatedAt), ETag: `"${etag}"` }));
  }
}
