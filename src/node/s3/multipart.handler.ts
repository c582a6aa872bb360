import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { Injectable } from '@nestjs/common';
import { mapLimit } from '../../common/async/map-limit.js';
import { contentSize } from '../replication/manifest.service.js';
import type { Entry, EntryMeta } from '../storage/entry.js';
import { readSmallBody, requestBody } from './auth/body.js';
import { BucketHandler } from './bucket.handler.js';
import { CopyHandler } from './copy.handler.js';
import { contentTypeOf, ObjectHandler } from './object.handler.js';
import { isoTime, META_MD5, metaFromHeaders } from './object-meta.js';
import { S3Error, toS3Error } from './s3-errors.js';
import { S3StoreService, UPLOADS_PREFIX, type Located } from './s3-store.service.js';
import { assembledEtag, F_COMPLETED, F_INITIATED, F_KEY, F_UPLOAD, partKey, partsPrefix, uploadKey, writeAssembled } from './upload-records.js';
import { xmlResponse, type S3Context, type S3Response } from './s3-context.js';
import { parseXml, text, toXml, type XmlNode } from './xml.js';

const OWNER = { ID: 'shoal', DisplayName: 'shoal' };
const MIN_PART_BYTES = 5 * 1024 * 1024;
const MAX_PARTS = 10000;
/** While a Complete assembles a large object, a space goes out this often so that clients do not time out. */
const KEEPALIVE_MS = 5000;

/**
 * Multipart uploads. An upload in progress is a replicated record (`.shoal-s3/uploads/<bucket>/<id>`, its metadata
 * the future object's), each part a replicated entry (`.shoal-s3/parts/<id>/<n>`) written through the coordinator to
 * the part's owners as it arrives — so any node can take any part, and a node lost mid-upload loses nothing that W
 * owners acknowledged. Complete streams the parts, in order and hash-verified, into one new write of the object.
 */
@Injectable()
export class MultipartHandler {
  constructor(
    private readonly store: S3StoreService,
    private readonly buckets: BucketHandler,
    private readonly copies: CopyHandler,
  ) {}

  async create(ctx: S3Context): Promise<S3Response> {
    await this.buckets.require(ctx.bucket);
    ObjectHandler.keyOf(ctx.bucket, ctx.key);
    const uploadId = randomBytes(16).toString('hex');
    const meta: EntryMeta = { ...metaFromHeaders(ctx.req.headers), [F_KEY]: ctx.key, [F_INITIATED]: String(Date.now()) };
    await this.store.writeRecord(uploadKey(ctx.bucket, uploadId), contentTypeOf(ctx.req.headers), meta);
    return xmlResponse(toXml('InitiateMultipartUploadResult', { Bucket: ctx.bucket, Key: ctx.key, UploadId: uploadId }));
  }

  /** The upload record, unless it is unknown, completed, aborted, or for another key. */
  private async upload(ctx: S3Context, allowCompleted = false): Promise<Located> {
    const uploadId = ctx.query.get('uploadId') ?? '';
    if (!/^[0-9a-f]{32}$/.test(uploadId)) throw noSuchUpload();
    const found = await this.store.find(uploadKey(ctx.bucket, uploadId));
    if (!found || found.entry.meta?.[F_KEY] !== ctx.key) throw noSuchUpload();
    if (found.entry.meta?.[F_COMPLETED] && !allowCompleted) throw noSuchUpload();
    return found;
  }

  private partNumber(ctx: S3Context): number {
    const n = Number(ctx.query.get('partNumber'));
    if (!Number.isInteger(n) || n < 1 || n > MAX_PARTS) throw new S3Error('InvalidArgument', `Part number must be an integer between 1 and ${MAX_PARTS}, inclusive`);
    return n;
  }

  async uploadPart(ctx: S3Context): Promise<S3Response> {
    await this.buckets.require(ctx.bucket);
    await this.upload(ctx);
    const n = this.partNumber(ctx);
    const written = await this.store.write(partKey(ctx.query.get('uploadId')!, n), requestBody(ctx.req, ctx.auth), 'application/octet-stream', {});
    return { status: 200, headers: { etag: `"${written.md5}"`, ...written.checksums } };
  }

  async uploadPartCopy(ctx: S3Context): Promise<S3Response> {
    await this.buckets.require(ctx.bucket);
    await this.upload(ctx);
    const n = this.partNumber(ctx);
    const src = await this.copies.source(ctx);
    const rangeHeader = ctx.req.headers['x-amz-copy-source-range'];
    let range;
    if (typeof rangeHeader === 'string') {
      const m = /^bytes=(\d+)-(\d+)$/.exec(rangeHeader.trim());
      if (!m || Number(m[2]) < Number(m[1]) || Number(m[2]) >= contentSize(src.found.entry)) throw new S3Error('InvalidArgument', 'The x-amz-copy-source-range value must be of the form bytes=first-last within the source object');
      range = { start: Number(m[1]), end: Number(m[2]) };
    }
    const key = partKey(ctx.query.get('uploadId')!, n);
    // A range that is a whole stored piece (the whole of a plain object, or one part of a multipart one — as when a
    // client copies with the part size it uploaded with) becomes a part by reference: no byte is copied.
    const piece = await this.copies.wholePiece(src, range);
    if (piece) {
      const md5 = piece.entry.meta![META_MD5];
      const stored = await this.store.writeReference(key, piece, 'application/octet-stream', { [META_MD5]: md5 });
      return xmlResponse(toXml('CopyPartResult', { LastModified: isoTime(stored.entry.updatedAt), ETag: `"${md5}"` }));
    }
    const { body } = await this.copies.openSource(src, range);
    const written = await this.store.writeStream(key, body, 'application/octet-stream', {});
    return xmlResponse(toXml('CopyPartResult', { LastModified: isoTime(written.stored.entry.updatedAt), ETag: `"${written.md5}"` }));
  }

  async listParts(ctx: S3Context): Promise<S3Response> {
    await this.buckets.require(ctx.bucket);
    const upload = await this.upload(ctx);
    const uploadId = ctx.query.get('uploadId')!;
    const marker = Number(ctx.query.get('part-number-marker') ?? 0);
    const maxParts = Math.min(Number(ctx.query.get('max-parts') ?? 1000) || 1000, 1000);
    const page = await this.store.list(partsPrefix(uploadId), marker > 0 ? partKey(uploadId, marker) : undefined, maxParts);
    const parts = page.items.map((e) => ({ PartNumber: partOf(e), LastModified: isoTime(e.updatedAt), ETag: `"${e.meta?.[META_MD5] ?? ''}"`, Size: e.size }));
    return xmlResponse(
      toXml('ListPartsResult', {
        Bucket: ctx.bucket,
        Key: ctx.key,
        UploadId: uploadId,
        Initiator: OWNER,
        Owner: OWNER,
        StorageClass: 'STANDARD',
        PartNumberMarker: marker,
        NextPartNumberMarker: parts.length > 0 ? parts[parts.length - 1].PartNumber : undefined,
        MaxParts: maxParts,
        IsTruncated: page.more,
        Part: parts,
        Initiated: isoTime(Number(upload.entry.meta?.[F_INITIATED] ?? upload.entry.updatedAt)),
      }),
    );
  }

  async listUploads(ctx: S3Context): Promise<S3Response> {
    await this.buckets.require(ctx.bucket);
    const prefix = ctx.query.get('prefix') ?? '';
    const keyMarker = ctx.query.get('key-marker') ?? '';
    const idMarker = ctx.query.get('upload-id-marker') ?? '';
    const maxUploads = Math.min(Number(ctx.query.get('max-uploads') ?? 1000) || 1000, 1000);
    const all: { key: string; id: string; initiated: number }[] = [];
    let after: string | undefined;
    // Upload records are few (one per upload in progress); they are sorted by object key here.
    for (let i = 0; i < 20; i++) {
      const page = await this.store.list(`${UPLOADS_PREFIX}${ctx.bucket}/`, after, 1000);
      for (const e of page.items) {
        const key = e.meta?.[F_KEY];
        if (key === undefined || e.meta?.[F_COMPLETED] || !key.startsWith(prefix)) continue;
        all.push({ key, id: e.key.slice(e.key.lastIndexOf('/') + 1), initiated: Number(e.meta?.[F_INITIATED] ?? e.updatedAt) });
      }
      if (!page.more || page.items.length === 0) break;
      after = page.items[page.items.length - 1].key;
    }
    all.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.initiated - b.initiated));
    const start = keyMarker ? all.findIndex((u) => u.key > keyMarker || (u.key === keyMarker && idMarker !== '' && u.id > idMarker)) : 0;
    const rest = start < 0 ? [] : all.slice(start);
    const page = rest.slice(0, maxUploads);
    const truncated = rest.length > page.length;
    return xmlResponse(
      toXml('ListMultipartUploadsResult', {
        Bucket: ctx.bucket,
        KeyMarker: keyMarker,
        UploadIdMarker: idMarker,
        NextKeyMarker: truncated ? page[page.length - 1].key : undefined,
        NextUploadIdMarker: truncated ? page[page.length - 1].id : undefined,
        Prefix: prefix,
        MaxUploads: maxUploads,
        IsTruncated: truncated,
        Upload: page.map((u) => ({ Key: u.key, UploadId: u.id, Initiator: OWNER, Owner: OWNER, StorageClass: 'STANDARD', Initiated: isoTime(u.initiated) })),
      }),
    );
  }

  async abort(ctx: S3Context): Promise<S3Response> {
    await this.buckets.require(ctx.bucket);
    await this.upload(ctx);
    const uploadId = ctx.query.get('uploadId')!;
    // A Complete that wrote the object but not its receipt (cut off) did complete: its parts are the object's now.
    const current = await this.store.find(ObjectHandler.keyOf(ctx.bucket, ctx.key));
    if (current?.entry.meta?.[F_UPLOAD] === uploadId) throw noSuchUpload();
    await this.dropParts(uploadId);
    await this.store.delete(uploadKey(ctx.bucket, uploadId));
    return { status: 204 };
  }

  private async dropParts(uploadId: string): Promise<void> {
    for (;;) {
      const page = await this.store.list(partsPrefix(uploadId), undefined, 1000);
      if (page.items.length === 0) return;
      await mapLimit(page.items, 16, (e) => this.store.delete(e.key));
    }
  }

  /**
   * Validates the part list against the stored parts first (InvalidPart, InvalidPartOrder, EntityTooSmall answer
   * at once); then answers 200 and assembles the object, sending spaces meanwhile, as S3 does. A Complete repeated
   * after success answers the same object again.
   */
  async complete(ctx: S3Context): Promise<S3Response> {
    await this.buckets.require(ctx.bucket);
    const upload = await this.upload(ctx, true);
    const uploadId = ctx.query.get('uploadId')!;
    const doc = parseXml(await readSmallBody(requestBody(ctx.req, ctx.auth)), 'CompleteMultipartUpload');
    const result = (etag: string) => toXml('CompleteMultipartUploadResult', { Location: `/${ctx.bucket}/${ctx.key}`, Bucket: ctx.bucket, Key: ctx.key, ETag: `"${etag}"` });
    const done = upload.entry.meta?.[F_COMPLETED];
    if (done) return xmlResponse(result(done));
    const requested = ((doc.Part as XmlNode[] | undefined) ?? []).map((p) => ({ n: Number(text(p.PartNumber)), etag: (text(p.ETag) ?? '').trim().replace(/^"|"$/g, '') }));
    if (requested.length === 0) throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');
    const parts: Located[] = [];
    for (const [i, p] of requested.entries()) {
      if (!Number.isInteger(p.n) || p.n < 1 || (i > 0 && p.n <= requested[i - 1].n)) throw new S3Error('InvalidPartOrder', 'The list of parts was not in ascending order. Parts must be ordered by part number.');
    }
    await mapLimit([...requested.keys()], 16, async (i) => {
      const p = requested[i];
      const found = await this.store.find(partKey(uploadId, p.n));
      if (!found || found.entry.meta?.[META_MD5] !== p.etag) throw new S3Error('InvalidPart', 'One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part\'s entity tag.', { PartNumber: String(p.n), ETag: p.etag });
      parts[i] = found;
    });
    for (const [i, part] of parts.entries()) {
      if (i < parts.length - 1 && part.entry.size < MIN_PART_BYTES) throw new S3Error('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.', { PartNumber: String(requested[i].n) });
    }
    const key = ObjectHandler.keyOf(ctx.bucket, ctx.key);
    const etag = assembledEtag(parts.map((p) => p.entry));
    const assemble = () => writeAssembled(this.store, key, upload.entry, parts.map((p) => p.entry));
    return { status: 200, stream: (res) => keepAliveWhile(res, assemble, () => result(etag)) };
  }

  /**
   * Frees the parts of completed uploads whose object has since been overwritten or deleted (by either API), and
   * their receipts. Each node sweeps the receipts it holds; a round looks at most `limit` of them.
   */
  async sweep(after: string | undefined, limit: number): Promise<{ next: string | undefined; freed: number }> {
    const page = this.store.listLocal(UPLOADS_PREFIX, after, limit);
    let freed = 0;
    for (const r of page.items) {
      const done = r.meta?.[F_COMPLETED];
      const objectKey = r.meta?.[F_KEY];
      if (!done || objectKey === undefined) continue;
      const uploadId = r.key.slice(r.key.lastIndexOf('/') + 1);
      const bucket = r.key.slice(UPLOADS_PREFIX.length, r.key.lastIndexOf('/'));
      const current = await this.store.find(ObjectHandler.keyOf(bucket, objectKey));
      if (current?.entry.meta?.[F_UPLOAD] === uploadId) continue;
      await this.dropParts(uploadId);
      await this.store.delete(r.key);
      freed++;
    }
    return { next: page.more ? page.items[page.items.length - 1].key : undefined, freed };
  }

}

function partOf(e: Entry): number {
  return Number(e.key.slice(e.key.lastIndexOf('/') + 1));
}

function noSuchUpload(): S3Error {
  return new S3Error('NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.');
}

/** Sends 200 and the XML declaration at once, a space every few seconds while `work` runs, then the document (or an S3 error document, as S3 does). */
async function keepAliveWhile(res: ServerResponse, work: () => Promise<unknown>, doc: () => string): Promise<void> {
  const decl = /^<\?xml[^>]*>\n/;
  res.writeHead(200, { 'content-type': 'application/xml' });
  // The declaration must come first; whitespace may follow it before the root element.
  res.write('<?xml version="1.0" encoding="UTF-8"?>\n');
  const timer = setInterval(() => res.write(' '), KEEPALIVE_MS);
  try {
    await work();
    res.end(doc().replace(decl, ''));
  } catch (err) {
    const e = toS3Error(err) ?? new S3Error('InternalError', 'We encountered an internal error. Please try again.');
    res.end(toXml('Error', { Code: e.code, Message: e.message }, false).replace(decl, ''));
  } finally {
    clearInterval(timer);
  }
}
