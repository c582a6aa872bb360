import { Injectable } from '@nestjs/common';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { Inject } from '@nestjs/common';
import { checkBucketName, isoTime } from './object-meta.js';
import { S3Error } from './s3-errors.js';
import { BUCKETS_PREFIX, S3StoreService } from './s3-store.service.js';
import { xmlResponse, type S3Context, type S3Response } from './s3-context.js';
import { toXml } from './xml.js';

const OWNER = { ID: 'shoal', DisplayName: 'shoal' };
/**
 * How long this node trusts that a bucket it saw exists. Every object request checks its bucket; without this, each
 * would cost one more round of version queries. A bucket deleted elsewhere may thus take a request that long to be
 * refused here — the same window any check-then-write has without a consensus round.
 */
const EXISTS_TTL_MS = 2000;

/**
 * Buckets (DESIGN §2): a bucket is a replicated record — an empty entry at `.shoal-s3/buckets/<name>` whose version
 * time is its creation time — written and read through the coordinator like any file, so it is replicated, synced,
 * handed over and repaired the same way.
 */
@Injectable()
export class BucketHandler {
  constructor(
    @Inject(APP_CONFIG) private readonly config: NodeConfig,
    private readonly store: S3StoreService,
  ) {}

  private readonly seen = new Map<string, number>();

  /** NoSuchBucket unless the bucket exists. */
  async require(bucket: string): Promise<void> {
    if (!(await this.exists(bucket))) throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', { BucketName: bucket });
  }

  async exists(bucket: string): Promise<boolean> {
    const until = this.seen.get(bucket);
    if (until !== undefined && until > Date.now()) return true;
    const found = (await this.store.find(BUCKETS_PREFIX + bucket)) !== undefined;
    if (this.seen.size > 10_000) this.seen.clear();
    if (found) this.seen.set(bucket, Date.now() + EXISTS_TTL_MS);
    else this.seen.delete(bucket);
    return found;
  }

  async listBuckets(): Promise<S3Response> {
    const buckets: { Name: string; CreationDate: string }[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.store.list(BUCKETS_PREFIX, after, 1000);
      for (const e of page.items) buckets.push({ Name: e.key.slice(BUCKETS_PREFIX.length), CreationDate: isoTime(Number(e.meta?.created ?? e.updatedAt)) });
      if (!page.more || page.items.length === 0) break;
      after = page.items[page.items.length - 1].key;
    }
    return xmlResponse(toXml('ListAllMyBucketsResult', { Owner: OWNER, Buckets: { Bucket: buckets } }));
  }

  /** Idempotent, as in us-east-1: creating a bucket that exists answers 200 and keeps its creation time. */
  async create(ctx: S3Context): Promise<S3Response> {
    const name = checkBucketName(ctx.bucket);
    if (!(await this.exists(name))) {
      await this.store.writeRecord(BUCKETS_PREFIX + name, 'application/x-shoal-bucket', { created: String(Date.now()) });
    }
    return { status: 200, headers: { location: `/${name}` } };
  }

  async head(ctx: S3Context): Promise<S3Response> {
    await this.require(ctx.bucket);
    return { status: 200, headers: { 'x-amz-bucket-region': this.config.s3.region } };
  }

  async location(ctx: S3Context): Promise<S3Response> {
    await this.require(ctx.bucket);
    // us-east-1 is the empty constraint, by S3's convention.
    const region = this.config.s3.region === 'us-east-1' ? '' : this.config.s3.region;
    return xmlResponse(toXml('LocationConstraint', { '#text': region }));
  }

  async versioning(ctx: S3Context): Promise<S3Response> {
    await this.require(ctx.bucket);
    return xmlResponse(toXml('VersioningConfiguration', {}));
  }

  /** Only an empty bucket goes (409 BucketNotEmpty otherwise). */
  async delete(ctx: S3Context): Promise<S3Response> {
    await this.require(ctx.bucket);
    const page = await this.store.list(`${ctx.bucket}/`, undefined, 1);
    if (page.items.length > 0) throw new S3Error('BucketNotEmpty', 'The bucket you tried to delete is not empty', { BucketName: ctx.bucket });
    await this.store.delete(BUCKETS_PREFIX + ctx.bucket);
    this.seen.delete(ctx.bucket);
    return { status: 204 };
  }
}
