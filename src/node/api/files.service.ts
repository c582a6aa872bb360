import type { Readable } from 'node:stream';
import type { IncomingHttpHeaders } from 'node:http';
import { Injectable } from '@nestjs/common';
import { ShoalError } from '../../common/errors.js';
import { ReadCoordinatorService } from '../replication/read-coordinator.service.js';
import { WriteCoordinatorService, type StoredFile } from '../replication/write-coordinator.service.js';
import { ListingService } from '../replication/listing.service.js';
import { contentSize, isManifest, ManifestService } from '../replication/manifest.service.js';
import type { Entry } from '../storage/entry.js';
import { isReservedKey, keyFromPath, RESERVED_PREFIX, validateKey } from '../storage/keys.js';
import type { StagedBlob } from '../storage/staging.js';
import { parseRange } from '../storage/range.js';
import type { FileInfoDto, FileItemDto, FileListDto, ListQueryDto } from './files.dto.js';
import { parseMultipart } from './multipart.js';

export interface FileResponse {
  status: 200 | 206 | 304;
  headers: Record<string, string>;
  body?: Readable;
  /** The whole content, already hash-checked (a small file held here inline): sent as is, instead of `body`. */
  data?: Buffer;
}

type UploadRequest = Readable & { headers: IncomingHttpHeaders };

/** HTTP semantics of the client API (headers, conditional and range requests, cursors) over the coordinators. */
@Injectable()
export class FilesService {
  constructor(
    private readonly writes: WriteCoordinatorService,
    private readonly reads: ReadCoordinatorService,
    private readonly listing: ListingService,
    private readonly manifests: ManifestService,
  ) {}

  async put(rawKey: string, req: UploadRequest): Promise<FileInfoDto> {
    const key = keyFromPath(rawKey);
    const stored = await this.writes.put(key, req, {
      contentType: req.headers['content-type'] || 'application/octet-stream',
      declaredLength: contentLength(req.headers),
      expectedSha256: expectedSha(req.headers),
    });
    return toInfo(stored);
  }

  async postForm(req: UploadRequest): Promise<FileInfoDto> {
    // A form that fails after its file was staged (a second file, a bad key field) must not leave the file in tmp/.
    const discard = (r: { staged: StagedBlob }) => this.writes.discardStaged(r.staged);
    const { result, fields } = await parseMultipart(req, async (file) => ({ file, staged: await this.writes.stage(file.stream, {}) }), discard);
    let key: string;
    try {
      key = validateKey(fields.key || result.file.filename);
      if (isReservedKey(key)) throw new ShoalError('INVALID_KEY', `keys under "${RESERVED_PREFIX}" are reserved for the S3 API's records`);
    } catch (err) {
      await discard(result);
      throw err;
    }
    return toInfo(await this.writes.commitUpload(key, result.staged, result.file.contentType));
  }

  async get(rawKey: string, headers: IncomingHttpHeaders, withBody: boolean): Promise<FileResponse> {
    const key = keyFromPath(rawKey);
    try {
      return await this.getOnce(key, headers, withBody);
    } catch (err) {
      // A write of the same key may have replaced the located version (and freed its bytes) between the version query
      // and the stream: the newer version is just as right an answer, so look again once.
      if (!(err instanceof ShoalError && err.code === 'BAD_GATEWAY')) throw err;
      try {
        return await this.getOnce(key, headers, withBody);
      } catch (again) {
        if (!(again instanceof ShoalError && again.code === 'BAD_GATEWAY')) throw again;
        throw new ShoalError('INSUFFICIENT_REPLICAS', `${again.message}; retry`, { retryAfter: 1 }, { 'Retry-After': '1' });
      }
    }
  }

  private async getOnce(key: string, headers: IncomingHttpHeaders, withBody: boolean): Promise<FileResponse> {
    const { entry, holders } = await this.reads.locate(key);
    if (!entry || entry.deleted) throw new ShoalError('NOT_FOUND', `no live version of "${key}"`);
    const common: Record<string, string> = {
      etag: `"${entry.sha256}"`,
      'last-modified': new Date(entry.updatedAt).toUTCString(),
      'accept-ranges': 'bytes',
      'x-shoal-version': entry.version,
    };
    if (matchesEtag(headers['if-none-match'], entry.sha256)) return { status: 304, headers: common };
    // An entry may be a manifest of parts (an S3 multipart object): its content is theirs.
    const size = contentSize(entry);
    const range = parseRange(headers.range, size);
    const length = range ? range.end - range.start + 1 : size;
    const out: Record<string, string> = { ...common, 'content-type': entry.contentType, 'content-length': String(length) };
    if (range) out['content-range'] = `bytes ${range.start}-${range.end}/${size}`;
    if (!withBody) return { status: range ? 206 : 200, headers: out };
    if (isManifest(entry)) return { status: range ? 206 : 200, headers: out, body: await this.manifests.open(entry, holders, range) };
    // A small file held here: one read and one hash check, no stream. A corrupt local copy is streamed from the others.
    const data = range ? undefined : this.reads.readInline(entry, holders);
    if (data) return { status: 200, headers: out, data };
    return { status: range ? 206 : 200, headers: out, body: await this.reads.open(entry, holders, range, data !== null) };
  }


  async delete(rawKey: string): Promise<void> {
    await this.writes.delete(keyFromPath(rawKey));
  }

  async list(q: ListQueryDto): Promise<FileListDto> {
    const after = q.cursor ? decodeCursor(q.cursor) : undefined;
    const limit = q.limit ?? 100;
    const prefix = q.prefix ?? '';
    const page = q.local ? this.listing.listLocal(prefix, after, limit) : await this.listing.listCluster(prefix, after, limit);
    // The S3 API's own records are files too, but not the client's: the page skips them (and may come out short).
    const items = page.items.filter((e) => !isReservedKey(e.key));
    return { items: items.map(toItem), nextCursor: page.more && page.items.length > 0 ? encodeCursor(page.items[page.items.length - 1].key) : null };
  }
}

function toInfo(s: StoredFile): FileInfoDto {
  const e = s.entry;
  return { key: e.key, size: e.size, sha256: e.sha256, contentType: e.contentType, version: e.version, replicas: s.replicas, nodes: s.nodes };
}

function toItem(e: Entry): FileItemDto {
  return { key: e.key, size: contentSize(e), sha256: e.sha256, contentType: e.contentType, version: e.version, updatedAt: new Date(e.updatedAt).toISOString() };
}

function contentLength(h: IncomingHttpHeaders): number | undefined {
  const raw = h['content-length'];
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) throw new ShoalError('BAD_REQUEST', 'Content-Length must be a non-negative integer');
  return Number(raw);
}

function expectedSha(h: IncomingHttpHeaders): string | undefined {
  const raw = h['x-content-sha256'];
  if (raw === undefined) return undefined;
  const v = (Array.isArray(raw) ? raw[0] : raw).trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(v)) throw new ShoalError('BAD_REQUEST', 'X-Content-SHA256 must be 64 hex digits');
  return v;
}

function matchesEtag(header: string | undefined, sha256: string): boolean {
  if (!header) return false;
  return header.split(',').some((t) => {
    const tag = t.trim().replace(/^W\//, '');
    return tag === '*' || tag === `"${sha256}"`;
  });
}

/** Cursors are opaque to clients: base64url of the last key of the page. */
function encodeCursor(lastKey: string): string {
  return Buffer.from(JSON.stringify({ k: lastKey })).toString('base64url');
}

function decodeCursor(cursor: string): string {
  try {
    const { k } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { k: unknown };
    if (typeof k === 'string') return k;
  } catch {
    // fall through
  }
  throw new ShoalError('BAD_REQUEST', 'invalid cursor; pass the nextCursor of the previous page unchanged');
}
