import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ShoalError } from '../../common/errors.js';
import type { WriteCondition } from '../replication/fencing.js';
import { contentSize } from '../replication/manifest.service.js';
import type { Entry } from '../storage/entry.js';
import { MAX_KEY_BYTES, MAX_STORED_KEY_BYTES, validateKey } from '../storage/keys.js';
import { parseRange, type ByteRange } from '../storage/range.js';
import { requestBody } from './auth/body.js';
import { BucketHandler } from './bucket.handler.js';
import { etagOf, META_PARTS, metaFromHeaders, objectHeaders } from './object-meta.js';
import { S3Error } from './s3-errors.js';
import { objectKey, S3StoreService, type Located } from './s3-store.service.js';
import type { S3Context, S3Response } from './s3-context.js';

/** Query parameters of GET that override response headers (presigned downloads use them). */
const OVERRIDES = ['content-type', 'content-language', 'expires', 'cache-control', 'content-disposition', 'content-encoding'];

/** PutObject, GetObject, HeadObject, DeleteObject. */
@Injectable()
export class ObjectHandler {
  constructor(
    private readonly store: S3StoreService,
    private readonly buckets: BucketHandler,
  ) {}

  /** The Shoal key of an S3 object, validated (S3 allows 1024 bytes of key; Shoal keys have no control characters). */
  static keyOf(bucket: string, key: string): string {
    if (key === '') throw new S3Error('InvalidArgument', 'the object key must not be empty');
    if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new S3Error('KeyTooLongError', 'Your key is too long');
    try {
      return validateKey(objectKey(bucket, key), MAX_STORED_KEY_BYTES);
    } catch (err) {
      if (err instanceof ShoalError) throw new S3Error('InvalidArgument', err.message, { Key: key });
      throw err;
    }
  }

  async put(ctx: S3Context): Promise<S3Response> {
    await this.buckets.require(ctx.bucket);
    const key = ObjectHandler.keyOf(ctx.bucket, ctx.key);
    const condition = await this.writeCondition(key, ctx.req.headers);
    const meta = metaFromHeaders(ctx.req.headers);
    const body = requestBody(ctx.req, ctx.auth);
    const written = await this.store.write(key, body, contentTypeOf(ctx.req.headers), meta, condition);
    return { status: 200, headers: { etag: `"${written.md5}"`, ...written.checksums } };
  }

  /**
   * Conditional PutObject: `If-None-Match: *` only creates, `If-Match` only replaces that ETag. The ETags are judged
   * on the newest version R owners know; then the write's version claim reserves the key on W owners and checks
   * that the newest version they hold is still that one (see fencing.ts WriteCondition): of two conditional writers
   * racing for a key, at most one succeeds, and the other has sent no byte anywhere.
   */
  private async writeCondition(key: string, h: IncomingHttpHeaders): Promise<WriteCondition | undefined> {
    const ifNoneMatch = h['if-none-match'];
    const ifMatch = h['if-match'];
    if (ifNoneMatch === undefined && ifMatch === undefined) return undefined;
    const failed = (condition: string) => new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: condition });
    const found = await this.store.find(key);
    if (ifNoneMatch !== undefined && found && matches(ifNoneMatch, etagOf(found.entry))) throw failed('If-None-Match');
    if (ifMatch !== undefined) {
      if (!found) throw new S3Error('NoSuchKey', 'The specified key does not exist.');
      if (!matches(ifMatch, etagOf(found.entry))) throw failed('If-Match');
    }
    const seen = found?.entry.version ?? null;
    return {
      token: randomBytes(16).toString('hex'),
      check: (newest) => {
        const live = newest.version !== null && !newest.deleted;
        if (live ? newest.version === seen : seen === null) return;
        // Written or deleted since the ETags were judged: a create that finds an object has failed for certain.
        if (ifNoneMatch?.trim() === '*' && live) throw failed('If-None-Match');
        throw conflict();
      },
      conflict,
    };
  }

  async get(ctx: S3Context, withBody: boolean): Promise<S3Response> {
    await this.buckets.require(ctx.bucket);
    const key = ObjectHandler.keyOf(ctx.bucket, ctx.key);
    let found = await this.store.find(key);
    if (!found) throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: ctx.key });
    const notModified = checkReadPreconditions(found.entry, ctx.req.headers);
    if (notModified) return notModified;
    const range = rangeOf(found.entry, ctx.query.get('partNumber'), ctx.req.headers.range);
    let body;
    if (withBody) ({ found, body } = await this.store.open(key, found, range));
    return { status: range ? 206 : 200, headers: this.responseHeaders(found, range, ctx.query), body };
  }

  private responseHeaders(found: Located, range: ByteRange | undefined, query: Map<string, string>): Record<string, string> {
    const e = found.entry;
    const headers = objectHeaders(e);
    const size = contentSize(e);
    headers['content-length'] = String(range ? range.end - range.start + 1 : size);
    if (range) headers['content-range'] = `bytes ${range.start}-${range.end}/${size}`;
    for (const h of OVERRIDES) {
      const v = query.get(`response-${h}`);
      if (v !== undefined) headers[h] = v;
    }
    return headers;
  }

  async delete(ctx: S3Context): Promise<S3Response> {
    await this.buckets.require(ctx.bucket);
    await this.store.delete(ObjectHandler.keyOf(ctx.bucket, ctx.key));
    return { status: 204 };
  }
}

export function contentTypeOf(h: IncomingHttpHeaders): string {
  return h['content-type'] || 'binary/octet-stream';
}

function conflict(): S3Error {
  return new S3Error('ConditionalRequestConflict', 'A conflicting conditional operation is currently in progress against this resource. Try again.');
}

/** An If-Match / If-None-Match list against an ETag (quotes and W/ optional, `*` matches anything). */
export function matches(header: string, etag: string): boolean {
  return header.split(',').some((t) => {
    const tag = t.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
    return tag === '*' || tag === etag;
  });
}

/** RFC 9110 §13.2.2 order: If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since. */
function checkReadPreconditions(e: Entry, h: IncomingHttpHeaders): S3Response | undefined {
  const etag = etagOf(e);
  // Last-Modified has second precision: compare at that precision.
  const modified = Math.floor(e.updatedAt / 1000) * 1000;
  const failed = (condition: string) => new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: condition });
  if (h['if-match'] !== undefined) {
    if (!matches(h['if-match'], etag)) throw failed('If-Match');
  } else if (h['if-unmodified-since'] !== undefined) {
    const t = Date.parse(h['if-unmodified-since']);
    if (!Number.isNaN(t) && modified > t) throw failed('If-Unmodified-Since');
  }
  const notModified: S3Response = { status: 304, headers: { etag: `"${etag}"`, 'last-modified': new Date(e.updatedAt).toUTCString() } };
  if (h['if-none-match'] !== undefined) {
    if (matches(h['if-none-match'], etag)) return notModified;
  } else if (h['if-modified-since'] !== undefined) {
    const t = Date.parse(h['if-modified-since']);
    if (!Number.isNaN(t) && modified <= t) return notModified;
  }
  return undefined;
}

/** `?partNumber=N` (the bytes of part N of a multipart object; part 1 of a plain one is all of it), else `Range`. */
function rangeOf(e: Entry, partNumber: string | undefined, rangeHeader: string | undefined): ByteRange | undefined {
  if (partNumber !== undefined) {
    const n = Number(partNumber);
    const sizes = (e.meta?.[META_PARTS] ?? String(contentSize(e))).split(',').map(Number);
    if (!Number.isInteger(n) || n < 1 || n > sizes.length) throw new S3Error('InvalidPart', 'The requested partnumber is not satisfiable', {}, {});
    const start = sizes.slice(0, n - 1).reduce((a, b) => a + b, 0);
    if (sizes[n - 1] === 0) return undefined;
    return { start, end: start + sizes[n - 1] - 1 };
  }
  const size = contentSize(e);
  try {
    return parseRange(rangeHeader, size);
  } catch (err) {
    if (err instanceof ShoalError && err.code === 'RANGE_NOT_SATISFIABLE') {
      throw new S3Error('InvalidRange', 'The requested range is not satisfiable', { ActualObjectSize: String(size) }, { 'content-range': `bytes */${size}` });
    }
    // S3 serves the whole object when the Range header does not parse.
    return undefined;
  }
}
