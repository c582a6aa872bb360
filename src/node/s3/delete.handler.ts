import { Injectable } from '@nestjs/common';
import { mapLimit } from '../../common/async/map-limit.js';
import { readSmallBody, requestBody } from './auth/body.js';
import { BucketHandler } from './bucket.handler.js';
import { ObjectHandler } from './object.handler.js';
import { S3Error, toS3Error } from './s3-errors.js';
import { S3StoreService } from './s3-store.service.js';
import { xmlResponse, type S3Context, type S3Response } from './s3-context.js';
import { parseXml, text, toXml, type XmlNode } from './xml.js';

const MAX_KEYS = 1000;
const CONCURRENCY = 16;

/** DeleteObjects: up to 1000 keys in one request, each deleted (tombstoned) on its own; failures are per key. */
@Injectable()
export class DeleteHandler {
  constructor(
    private readonly store: S3StoreService,
    private readonly buckets: BucketHandler,
  ) {}

  async deleteObjects(ctx: S3Context): Promise<S3Response> {
    await this.buckets.require(ctx.bucket);
    const doc = parseXml(await readSmallBody(requestBody(ctx.req, ctx.auth)), 'Delete');
    const objects = (doc.Object as XmlNode[] | undefined) ?? [];
    if (objects.length === 0 || objects.length > MAX_KEYS) throw new S3Error('MalformedXML', `a Delete request names 1 to ${MAX_KEYS} objects`);
    const quiet = text(doc.Quiet)?.trim() === 'true';
    const keys = objects.map((o) => text(o.Key) ?? '');
    const deleted: XmlNode[] = [];
    const errors: XmlNode[] = [];
    await mapLimit(keys, CONCURRENCY, async (key) => {
      try {
        await this.store.delete(ObjectHandler.keyOf(ctx.bucket, key));
        if (!quiet) deleted.push({ Key: key });
      } catch (err) {
        const e = toS3Error(err);
        if (!e) throw err;
        errors.push({ Key: key, Code: e.code, Message: e.message });
      }
    });
    return xmlResponse(toXml('DeleteResult', { Deleted: deleted, Error: errors }));
  }
}
