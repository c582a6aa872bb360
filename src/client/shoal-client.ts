import type { Readable } from 'node:stream';
import createClient, { type Client, defaultPathSerializer } from 'openapi-fetch';
import { networkError, problemFrom, ShoalClientError } from './client-error.js';
import type { components as NodeComponents, paths as NodePaths } from './generated/node.js';
import type { components as RegistryComponents, paths as RegistryPaths } from './generated/registry.js';
import { keyPath } from './key-path.js';
import { openStream, type ProgressListener, sendStream } from './streaming.js';

export { ShoalClientError, type Problem } from './client-error.js';

export type FileInfo = NodeComponents['schemas']['FileInfoDto'];
export type FileItem = NodeComponents['schemas']['FileItemDto'];
export type FileList = NodeComponents['schemas']['FileListDto'];
export type NodeInfo = NodeComponents['schemas']['NodeInfoDto'];
export type Membership = RegistryComponents['schemas']['MembershipDto'];
export type NodeRecord = RegistryComponents['schemas']['NodeRecordDto'];
export type ClusterSummary = RegistryComponents['schemas']['ClusterSummaryDto'];

export interface ShoalClientOptions {
  /** Base URL of any node, e.g. `http://127.0.0.1:4001`. */
  url: string;
  /** Bearer token for the client API (`API_TOKENS` / `API_READ_TOKENS`); none when the API is open. */
  token?: string;
  /** Bound of each JSON call (default 30 s); tests that poll a possibly paused node want a shorter one. */
  timeoutMs?: number;
}

export interface ListQuery {
  prefix?: string;
  /** Page size, 1–1000 (server default 100). */
  limit?: number;
  cursor?: string;
  /** Only the copies the node holds on its own disk. */
  local?: boolean;
}

/** What a HEAD tells about a file: the headers of a download. */
export interface FileStat {
  key: string;
  size: number;
  sha256: string;
  contentType: string;
  lastModified?: string;
  version?: string;
}

export interface UploadOptions {
  /** Sent as Content-Length; without it the body goes chunked (stdin). */
  size?: number;
  contentType?: string;
  /** Hex SHA-256 of the content: the node verifies it and stores nothing on a mismatch (`CHECKSUM_MISMATCH`). */
  sha256?: string;
  onProgress?: ProgressListener;
}

export interface Download {
  /** The bytes; fails with a `NETWORK_ERROR` {@link ShoalClientError} when the answer is cut short. */
  body: Readable;
  /** From Content-Length; the stream is expected to carry exactly this many bytes. */
  size?: number;
  /** The content's SHA-256 as the ETag gives it (`"<sha256>"`). */
  sha256?: string;
  contentType?: string;
  lastModified?: string;
  version?: string;
}

/**
 * A typed client for one Shoal node (DESIGN.md §2): JSON calls go through openapi-fetch over the generated
 * `paths`; uploads and downloads are streamed through `node:http` (see streaming.ts). Every failure is a
 * {@link ShoalClientError} carrying the server's problem document.
 */
export class ShoalClient {
  private readonly api: Client<NodePaths>;
  private readonly base: URL;
  private readonly auth: Record<string, string>;

  constructor(options: ShoalClientOptions) {
    this.base = baseUrl(options.url);
    this.auth = options.token ? { authorization: `Bearer ${options.token}` } : {};
    this.api = createClient<NodePaths>({ baseUrl: this.base.href, headers: this.auth, pathSerializer: serializeKeyPath, fetch: withTimeout(options.timeoutMs) });
  }

  get url(): string {
    return this.base.origin;
  }

  /** One page of the listing, in key order. */
  async list(query: ListQuery = {}): Promise<FileList> {
    const { data } = unwrap(await this.call(this.api.GET('/v1/files', { params: { query } })));
    return data as FileList;
  }

  /** Every page in turn, following `nextCursor` until the last one. */
  async *pages(query: Omit<ListQuery, 'cursor'> = {}): AsyncGenerator<FileList> {
    let cursor: string | undefined;
    do {
      const page = await this.list({ ...query, cursor });
      yield page;
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }

  async stat(key: string): Promise<FileStat> {
    const result = await this.call(this.api.HEAD('/v1/files/{key}', { params: { path: { key } } }));
    const { response } = unwrap(result, `no live version of "${key}"`);
    const h = response.headers;
    return {
      key,
      size: Number(h.get('content-length') ?? 0),
      sha256: etagSha256(h.get('etag') ?? undefined) ?? '',
      contentType: h.get('content-type') ?? 'application/octet-stream',
      lastModified: h.get('last-modified') ?? undefined,
      version: h.get('x-shoal-version') ?? undefined,
    };
  }

  async delete(key: string): Promise<void> {
    unwrap(await this.call(this.api.DELETE('/v1/files/{key}', { params: { path: { key } } })));
  }

  async nodeInfo(): Promise<NodeInfo> {
    const { data } = unwrap(await this.call(this.api.GET('/v1/node')));
    return data as NodeInfo;
  }

  /** Streams `source` to `PUT /v1/files/{key}`; resolves once the node acknowledged W durable copies. */
  async upload(key: string, source: Readable, options: UploadOptions = {}): Promise<FileInfo> {
    const headers: Record<string, string> = { ...this.auth, 'content-type': options.contentType ?? 'application/octet-stream', accept: 'application/json' };
    if (options.size !== undefined) headers['content-length'] = String(options.size);
    if (options.sha256) headers['x-content-sha256'] = options.sha256;
    const { body } = await sendStream(this.resolve(keyPath(key)), 'PUT', headers, source, options.onProgress);
    return body as FileInfo;
  }

  /** Starts `GET /v1/files/{key}` and resolves with its headers once they arrived; the body is left to the caller. */
  async download(key: string, options: { onProgress?: ProgressListener } = {}): Promise<Download> {
    const { answer, body } = await openStream(this.resolve(keyPath(key)), { ...this.auth }, options.onProgress);
    const h = answer.headers;
    return {
      body,
      size: h['content-length'] === undefined ? undefined : Number(h['content-length']),
      sha256: etagSha256(h.etag),
      contentType: h['content-type'],
      lastModified: h['last-modified'],
      version: header(h['x-shoal-version']),
    };
  }

  private resolve(path: string): URL {
    return new URL(this.base.pathname.replace(/\/$/, '') + path, this.base.origin);
  }

  private call<R>(pending: Promise<R>): Promise<R> {
    return pending.catch((err: unknown) => {
      throw networkError(this.base, err);
    });
  }
}

/** The registry's read API (membership, cluster summary); reads need no token. */
export class ShoalRegistryClient {
  private readonly api: Client<RegistryPaths>;
  private readonly base: URL;

  /** `clusterToken` (CLUSTER_TOKEN) is needed only for the calls that change the membership (decommission). */
  constructor(options: { url: string; clusterToken?: string }) {
    this.base = baseUrl(options.url);
    const headers = options.clusterToken ? { authorization: `Bearer ${options.clusterToken}` } : {};
    this.api = createClient<RegistryPaths>({ baseUrl: this.base.href, headers, fetch: withTimeout() });
  }

  get url(): string {
    return this.base.origin;
  }

  async nodes(): Promise<Membership> {
    const { data } = unwrap(await this.call(this.api.GET('/v1/nodes')));
    return data as Membership;
  }

  async cluster(): Promise<ClusterSummary> {
    const { data } = unwrap(await this.call(this.api.GET('/v1/cluster')));
    return data as ClusterSummary;
  }

  /** Starts a planned removal of node `id` (it turns `leaving`); idempotent. */
  async decommission(id: string): Promise<NodeRecord> {
    const { data } = unwrap(await this.call(this.api.POST('/v1/nodes/{id}/decommission', { params: { path: { id } } })), `node ${id} is not registered at this registry`);
    return data as NodeRecord;
  }

  /** Cancels a decommission under way: the node is `up` again. */
  async cancelDecommission(id: string): Promise<NodeRecord> {
    const { data } = unwrap(await this.call(this.api.DELETE('/v1/nodes/{id}/decommission', { params: { path: { id } } })), `node ${id} is not registered at this registry`);
    return data as NodeRecord;
  }

  private call<R>(pending: Promise<R>): Promise<R> {
    return pending.catch((err: unknown) => {
      throw networkError(this.base, err);
    });
  }
}

/** The hex SHA-256 in an ETag such as `"<sha256>"` (weak or not), or undefined when it holds none. */
export function etagSha256(etag: string | string[] | undefined): string | undefined {
  const match = /^(?:W\/)?"([0-9a-f]{64})"$/i.exec(header(etag)?.trim() ?? '');
  return match?.[1].toLowerCase();
}

/** A JSON call answers in milliseconds; one that hangs (a stopped process, a black-holed route) must not hang the caller. */
const JSON_CALL_TIMEOUT_MS = 30_000;

function withTimeout(timeoutMs = JSON_CALL_TIMEOUT_MS): (request: Request) => Promise<Response> {
  return (request) => fetch(request, { signal: AbortSignal.timeout(timeoutMs) });
}

function baseUrl(url: string): URL {
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new TypeError(`${url}: only http: and https: URLs are supported`);
  return parsed;
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Throws the problem document of an error answer; `notFound` words a 404 that came without one (HEAD). */
function unwrap<R extends { response: Response; error?: unknown }>(result: R, notFound?: string): R {
  const { response } = result;
  if (response.ok) return result;
  const detail = response.status === 404 ? notFound : undefined;
  throw new ShoalClientError(problemFrom(response.status, response.statusText, result.error, detail));
}

/** `{key}` is encoded by {@link keyPath} (segment-wise), the same way as the streamed calls; other params as usual. */
function serializeKeyPath(pathname: string, params: Record<string, unknown>): string {
  const { key, ...rest } = params;
  const withKey = typeof key === 'string' ? pathname.replace('/v1/files/{key}', keyPath(key)) : pathname;
  return defaultPathSerializer(withKey, rest);
}
