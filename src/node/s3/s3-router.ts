import { Injectable } from '@nestjs/common';
import { BucketHandler } from './bucket.handler.js';
import { CopyHandler } from './copy.handler.js';
import { DeleteHandler } from './delete.handler.js';
import { ListHandler } from './list.handler.js';
import { MultipartHandler } from './multipart.handler.js';
import { ObjectHandler } from './object.handler.js';
import { S3Error } from './s3-errors.js';
import { xmlResponse, type S3Context, type S3Response } from './s3-context.js';
import { toXml } from './xml.js';

/** One S3 operation: its name (metrics, logs), whether it writes, and the handler that answers it. */
export interface Endpoint {
  name: string;
  writes: boolean;
  run: (ctx: S3Context) => Promise<S3Response>;
}

/** Sub-resources that clients probe and Shoal does not implement: answered NotImplemented, not mistaken for a listing. */
const UNSUPPORTED = ['policy', 'cors', 'lifecycle', 'website', 'replication', 'tagging', 'encryption', 'logging', 'notification', 'object-lock', 'retention', 'legal-hold', 'torrent', 'restore', 'select', 'accelerate', 'requestPayment', 'analytics', 'metrics', 'inventory', 'intelligent-tiering', 'ownershipControls', 'publicAccessBlock'];

/**
 * Turns (method, bucket, key, query) into one {@link Endpoint} — Garage's `Endpoint::from_request` — so the server
 * dispatches on a value and each family of operations lives in its own handler.
 */
@Injectable()
export class S3Router {
  constructor(
    private readonly buckets: BucketHandler,
    private readonly objects: ObjectHandler,
    private readonly lists: ListHandler,
    private readonly copies: CopyHandler,
    private readonly deletes: DeleteHandler,
    private readonly multipart: MultipartHandler,
  ) {}

  route(method: string, bucket: string, key: string, query: Map<string, string>, headers: Record<string, unknown>): Endpoint {
    const has = (p: string) => query.has(p);
    const ep = (name: string, writes: boolean, run: (ctx: S3Context) => Promise<S3Response>): Endpoint => ({ name, writes, run });
    if (bucket === '') {
      if (method === 'GET' || method === 'HEAD') return ep('ListBuckets', false, () => this.buckets.listBuckets());
      throw methodNotAllowed();
    }
    const unsupported = UNSUPPORTED.find(has);
    if (unsupported) throw new S3Error('NotImplemented', `the ${unsupported} sub-resource is not implemented by Shoal`);
    if (key === '') {
      switch (method) {
        case 'PUT':
          if (has('versioning') || has('acl')) throw new S3Error('NotImplemented', 'Shoal buckets are unversioned and have no ACLs');
          return ep('CreateBucket', true, (c) => this.buckets.create(c));
        case 'HEAD':
          return ep('HeadBucket', false, (c) => this.buckets.head(c));
        case 'DELETE':
          return ep('DeleteBucket', true, (c) => this.buckets.delete(c));
        case 'POST':
          if (has('delete')) return ep('DeleteObjects', true, (c) => this.deletes.deleteObjects(c));
          throw methodNotAllowed();
        case 'GET':
          if (has('location')) return ep('GetBucketLocation', false, (c) => this.buckets.location(c));
          if (has('versioning')) return ep('GetBucketVersioning', false, (c) => this.buckets.versioning(c));
          if (has('acl')) return ep('GetBucketAcl', false, async (c) => (await this.buckets.require(c.bucket), acl()));
          if (has('uploads')) return ep('ListMultipartUploads', false, (c) => this.multipart.listUploads(c));
          if (has('versions')) return ep('ListObjectVersions', false, (c) => this.lists.listVersions(c));
          if (query.get('list-type') === '2') return ep('ListObjectsV2', false, (c) => this.lists.listV2(c));
          return ep('ListObjects', false, (c) => this.lists.listV1(c));
        default:
          throw methodNotAllowed();
      }
    }
    const copySource = headers['x-amz-copy-source'] !== undefined;
    switch (method) {
      case 'PUT':
        if (has('acl')) throw new S3Error('NotImplemented', 'Shoal objects have no ACLs');
        if (has('uploadId')) return copySource ? ep('UploadPartCopy', true, (c) => this.multipart.uploadPartCopy(c)) : ep('UploadPart', true, (c) => this.multipart.uploadPart(c));
        return copySource ? ep('CopyObject', true, (c) => this.copies.copy(c)) : ep('PutObject', true, (c) => this.objects.put(c));
      case 'GET':
        if (has('uploadId')) return ep('ListParts', false, (c) => this.multipart.listParts(c));
        if (has('acl')) return ep('GetObjectAcl', false, async () => acl());
        return ep('GetObject', false, (c) => this.objects.get(c, true));
      case 'HEAD':
        return ep('HeadObject', false, (c) => this.objects.get(c, false));
      case 'POST':
        if (has('uploads')) return ep('CreateMultipartUpload', true, (c) => this.multipart.create(c));
        if (has('uploadId')) return ep('CompleteMultipartUpload', true, (c) => this.multipart.complete(c));
        throw methodNotAllowed();
      case 'DELETE':
        if (has('uploadId')) return ep('AbortMultipartUpload', true, (c) => this.multipart.abort(c));
        return ep('DeleteObject', true, (c) => this.objects.delete(c));
      default:
        throw methodNotAllowed();
    }
  }
}

function methodNotAllowed(): S3Error {
  return new S3Error('MethodNotAllowed', 'The specified method is not allowed against this resource.');
}

/** Every access key has full control of every bucket (DESIGN §2): the one ACL there is. */
function acl(): S3Response {
  const owner = { ID: 'shoal', DisplayName: 'shoal' };
  return xmlResponse(toXml('AccessControlPolicy', { Owner: owner, AccessControlList: { Grant: { Grantee: { '@_xmlns:xsi': 'http://www.w3.org/2001/XMLSchema-instance', '@_xsi:type': 'CanonicalUser', ...owner }, Permission: 'FULL_CONTROL' } } }));
}
