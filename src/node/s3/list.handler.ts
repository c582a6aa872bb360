import { Injectable } from '@nestjs/common';
import type { Entry } from '../storage/entry.js';
import { contentSize } from '../replication/manifest.service.js';
import { uriEncode } from './auth/canonical.js';
import { BucketHandler } from './bucket.handler.js';
import { etagOf, isoTime } from './object-meta.js';
import { S3Error } from './s3-errors.js';
import { S3StoreService } from './s3-store.service.js';
import { xmlResponse, type S3Context, type S3Response } from './s3-context.js';
import { toXml, type XmlNode } from './xml.js';

const OWNER = { ID: 'shoal', DisplayName: 'shoal' };
/** The highest code point: `prefix + MAX_CHAR` sorts after every key that starts with `prefix`. */
const MAX_CHAR = '\u{10FFFF}';
/** Pages fetched from the cluster listing at once. */
const PAGE = 1000;

interface Listed {
  contents: Entry[];
  prefixes: string[];
  truncated: boolean;
  /** the last key or common prefix returned (relative to the bucket) */
  last?: string;
  lastIsPrefix: boolean;
}

/** ListObjectsV2, ListObjects (V1) and ListObjectVersions over the cluster-wide listing of `bucket/…` keys. */
@Injectable()
export class ListHandler {
  constructor(
    private readonly store: S3StoreService,
    private readonly buckets: BucketHandler,
  ) {}

  async listV2(ctx: S3Context): Promise<S3Response> {
    await this.buckets.require(ctx.bucket);
    const q = ctx.query;
    const { prefix, delimiter, maxKeys, encode } = common(q);
    const token = q.get('continuation-token');
    const startAfter = q.get('start-after');
    let after: string | undefined;
    let skipPrefix = false;
    if (token !== undefined) ({ key: after, prefix: skipPrefix } = decodeToken(token));
    else after = startAfter;
    const listed = await this.collect(ctx.bucket, prefix, delimiter, after, skipPrefix, maxKeys);
    const enc = (s: string | undefined) => (s === undefined ? undefined : encode ? uriEncode(s, true) : s);
    return xmlResponse(
      toXml('ListBucketResult', {
        Name: ctx.bucket,
        Prefix: enc(prefix),
        Delimiter: enc(delimiter),
        MaxKeys: maxKeys,
        EncodingType: encode ? 'url' : undefined,
        KeyCount: listed.contents.length + listed.prefixes.length,
        IsTruncated: listed.truncated,
        ContinuationToken: token,
        NextContinuationToken: listed.truncated && listed.last !== undefined ? encodeToken(listed.last, listed.lastIsPrefix) : undefined,
        StartAfter: enc(startAfter),
        Contents: listed.contents.map((e) => this.content(ctx.bucket, e, enc, q.get('fetch-owner') === 'true')),
        CommonPrefixes: listed.prefixes.map((p) => ({ Prefix: enc(p) })),
      }),
    );
  }

  async listV1(ctx: S3Context): Promise<S3Response> {
    await this.buckets.require(ctx.bucket);
    const q = ctx.query;
    const { prefix, delimiter, maxKeys, encode } = common(q);
    const marker = q.get('marker');
    const skip = marker !== undefined && delimiter !== undefined && marker.endsWith(delimiter);
    const listed = await this.collect(ctx.bucket, prefix, delimiter, marker || undefined, skip, maxKeys);
    const enc = (s: string | undefined) => (s === undefined ? undefined : encode ? uriEncode(s, true) : s);
    return xmlResponse(
      toXml('ListBucketResult', {
        Name: ctx.bucket,
        Prefix: enc(prefix),
        Marker: enc(marker ?? ''),
        NextMarker: listed.truncated ? enc(listed.last) : undefined,
        Delimiter: enc(delimiter),
        MaxKeys: maxKeys,
        EncodingType: encode ? 'url' : undefined,
        IsTruncated: listed.truncated,
        Contents: listed.contents.map((e) => this.content(ctx.bucket, e, enc, true)),
        CommonPrefixes: listed.prefixes.map((p) => ({ Prefix: enc(p) })),
      }),
    );
  }

  /** An unversioned bucket: one version per object, `VersionId` null, always the latest. */
  async listVersions(ctx: S3Context): Promise<S3Response> {
    await this.buckets.require(ctx.bucket);
    const q = ctx.query;
    const { prefix, delimiter, maxKeys, encode } = common(q);
    const keyMarker = q.get('key-marker');
    const skip = keyMarker !== undefined && delimiter !== undefined && keyMarker.endsWith(delimiter);
    const listed = await this.collect(ctx.bucket, prefix, delimiter, keyMarker || undefined, skip, maxKeys);
    const enc = (s: string | undefined) => (s === undefined ? undefined : encode ? uriEncode(s, true) : s);
    return xmlResponse(
      toXml('ListVersionsResult', {
        Name: ctx.bucket,
        Prefix: enc(prefix),
        KeyMarker: enc(keyMarker ?? ''),
        VersionIdMarker: q.get('version-id-marker') ?? '',
        NextKeyMarker: listed.truncated ? enc(listed.last) : undefined,
        NextVersionIdMarker: listed.truncated ? 'null' : undefined,
        Delimiter: enc(delimiter),
        MaxKeys: maxKeys,
        EncodingType: encode ? 'url' : undefined,
        IsTruncated: listed.truncated,
        Version: listed.contents.map((e) => ({
          Key: enc(e.key.slice(ctx.bucket.length + 1)),
          VersionId: 'null',
          IsLatest: true,
          LastModified: isoTime(e.updatedAt),
          ETag: `"${etagOf(e)}"`,
          Size: contentSize(e),
          Owner: OWNER,
          StorageClass: 'STANDARD',
        })),
        CommonPrefixes: listed.prefixes.map((p) => ({ Prefix: enc(p) })),
      }),
    );
  }

  private content(bucket: string, e: Entry, enc: (s: string) => string | undefined, owner: boolean): XmlNode {
    return {
      Key: enc(e.key.slice(bucket.length + 1)),
      LastModified: isoTime(e.updatedAt),
      ETag: `"${etagOf(e)}"`,
      Size: contentSize(e),
      Owner: owner ? OWNER : undefined,
      StorageClass: 'STANDARD',
    };
  }

  /**
   * Walks the bucket's keys after `after` (skipping everything under it when it is a common prefix), rolling keys
   * that contain the delimiter past the prefix into common prefixes, until `maxKeys` entries and prefixes are found.
   */
  private async collect(bucket: string, prefix: string, delimiter: string | undefined, after: string | undefined, skipPrefix: boolean, maxKeys: number): Promise<Listed> {
    const base = `${bucket}/`;
    const out: Listed = { contents: [], prefixes: [], truncated: false, lastIsPrefix: false };
    let cursor = after === undefined ? undefined : base + after + (skipPrefix ? MAX_CHAR : '');
    for (;;) {
      const page = await this.store.list(base + prefix, cursor, PAGE);
      let jumped = false;
      for (const e of page.items) {
        const rel = e.key.slice(base.length);
        const idx = delimiter ? rel.indexOf(delimiter, prefix.length) : -1;
        if (out.contents.length + out.prefixes.length >= maxKeys) {
          out.truncated = true;
          return out;
        }
        if (idx >= 0) {
          const cp = rel.slice(0, idx + delimiter!.length);
          out.prefixes.push(cp);
          out.last = cp;
          out.lastIsPrefix = true;
          // Everything else under this prefix rolls into it: resume the listing past it.
          cursor = base + cp + MAX_CHAR;
          jumped = true;
          break;
        }
        out.contents.push(e);
        out.last = rel;
        out.lastIsPrefix = false;
      }
      if (jumped) continue;
      if (!page.more || page.items.length === 0) return out;
      cursor = page.items[page.items.length - 1].key;
    }
  }
}

function common(q: Map<string, string>) {
  const raw = q.get('max-keys');
  if (raw !== undefined && !/^\d+$/.test(raw)) throw new S3Error('InvalidArgument', 'max-keys must be a non-negative integer');
  const maxKeys = Math.min(raw === undefined ? 1000 : Number(raw), 1000);
  const encodingType = q.get('encoding-type');
  if (encodingType !== undefined && encodingType !== 'url') throw new S3Error('InvalidArgument', 'Invalid Encoding Method specified in Request');
  const delimiter = q.get('delimiter') || undefined;
  return { prefix: q.get('prefix') ?? '', delimiter, maxKeys, encode: encodingType === 'url' };
}

function encodeToken(last: string, isPrefix: boolean): string {
  return Buffer.from(JSON.stringify({ k: last, p: isPrefix })).toString('base64url');
}

function decodeToken(token: string): { key: string; prefix: boolean } {
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { k?: unknown; p?: unknown };
    if (typeof v.k === 'string') return { key: v.k, prefix: v.p === true };
  } catch {
    // fall through
  }
  throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect');
}
