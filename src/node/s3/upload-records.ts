import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { encodeManifest, MANIFEST_META } from '../replication/manifest.service.js';
import type { Entry, EntryMeta } from '../storage/entry.js';
import { META_ETAG, META_MD5, META_PARTS } from './object-meta.js';
import { PARTS_PREFIX, UPLOADS_PREFIX, type S3StoreService } from './s3-store.service.js';

/** Upload records keep their own fields beside the object's future metadata. */
export const F_KEY = 'x-shoal-upload-key';
export const F_INITIATED = 'x-shoal-upload-initiated';
export const F_COMPLETED = 'x-shoal-upload-completed';
/** On a multipart object: the upload it was assembled from (its parts are kept while this names them). */
export const F_UPLOAD = 'x-shoal-upload-id';

export const uploadKey = (bucket: string, uploadId: string): string => `${UPLOADS_PREFIX}${bucket}/${uploadId}`;
export const partsPrefix = (uploadId: string): string => `${PARTS_PREFIX}${uploadId}/`;
export const partKey = (uploadId: string, n: number): string => `${partsPrefix(uploadId)}${String(n).padStart(5, '0')}`;

/** The ETag of a multipart object: the MD5 of its parts' MD5s, then `-N`. */
export function assembledEtag(parts: Entry[]): string {
  const md5s = Buffer.concat(parts.map((p) => Buffer.from(p.meta![META_MD5], 'hex')));
  return `${createHash('md5').update(md5s).digest('hex')}-${parts.length}`;
}

/**
 * Completes an upload: one small manifest entry at `key` that lists the parts — no byte of them is copied; they stay
 * until the sweeper sees that no version of the object refers to this upload any more — then the upload record
 * becomes the receipt of its completion, so a repeated Complete answers the same object. Returns the object's entry.
 */
export async function writeAssembled(store: S3StoreService, key: string, upload: Entry, parts: Entry[]): Promise<Entry> {
  const etag = assembledEtag(parts);
  const uploadId = upload.key.slice(upload.key.lastIndexOf('/') + 1);
  const objectMeta: EntryMeta = {};
  for (const [k, v] of Object.entries(upload.meta ?? {})) if (!k.startsWith('x-shoal-')) objectMeta[k] = v;
  objectMeta[META_ETAG] = etag;
  objectMeta[META_PARTS] = parts.map((p) => p.size).join(',');
  objectMeta[MANIFEST_META] = String(parts.reduce((n, p) => n + p.size, 0));
  objectMeta[F_UPLOAD] = uploadId;
  const manifest = encodeManifest(parts.map((p) => ({ key: p.key, sha256: p.sha256, size: p.size })));
  const written = await store.writeStream(key, Readable.from([manifest]), upload.contentType, objectMeta);
  await store.writeRecord(upload.key, upload.contentType, { ...upload.meta, [F_COMPLETED]: etag });
  return written.stored.entry;
}
