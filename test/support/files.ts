import { createHash } from 'node:crypto';
import { keyPath } from '../../src/client/key-path.js';
import { type FileInfo, type FileItem, type NodeInfo, ShoalClient } from '../../src/client/shoal-client.js';
import { assertLoopback } from './http.js';

/**
 * The file API as e2e tests use it, one copy for every suite. Listings and node info go through the project's own
 * client (src/client); single requests keep the raw answer (status, headers, problem body, a body cut short), which
 * is what the tests assert on, but build their URLs with the client's key encoding. Only 127.0.0.1 and the test's
 * own network namespaces are called.
 */

/** Anything with a base URL and a name: a ShoalProcess. */
export interface Reachable {
  readonly url: string;
  readonly name: string;
}

export const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

export interface Reply<T> {
  status: number;
  headers: Headers;
  body: T;
}

export interface Download extends Reply<Buffer> {
  /** true when the connection was cut before the body was complete (the body holds what arrived) */
  cut: boolean;
}

const TIMEOUT_MS = 15_000;

/** `/v1/files/{key}` on that node, with the client's encoding (src/client/key-path.ts). */
export function fileUrl(node: Reachable, key: string): string {
  const url = `${node.url}${keyPath(key)}`;
  assertLoopback(url);
  return url;
}

/** One PUT; the body is the JSON answer: the file's info on 201, the problem document otherwise. */
export async function putFile(node: Reachable, key: string, data: Buffer | string, contentType = 'application/octet-stream'): Promise<Reply<FileInfo & { code?: string }>> {
  const res = await fetch(fileUrl(node, key), { method: 'PUT', body: data, headers: { 'content-type': contentType }, signal: AbortSignal.timeout(TIMEOUT_MS) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : {} };
}

/** A GET whose body is read chunk by chunk, so that a response cut short is told apart from a complete one. */
export async function getFile(node: Reachable, key: string): Promise<Download> {
  const res = await fetch(fileUrl(node, key), { signal: AbortSignal.timeout(TIMEOUT_MS) });
  const chunks: Buffer[] = [];
  let cut = false;
  try {
    if (res.body) for await (const chunk of res.body) chunks.push(Buffer.from(chunk));
  } catch {
    cut = true; // undici: "terminated" when the server destroys the socket mid-body
  }
  const body = Buffer.concat(chunks);
  const declared = res.headers.get('content-length');
  if (!cut && declared !== null && Number(declared) !== body.length) cut = true;
  return { status: res.status, headers: res.headers, body, cut };
}

export async function deleteFile(node: Reachable, key: string): Promise<number> {
  const res = await fetch(fileUrl(node, key), { method: 'DELETE', signal: AbortSignal.timeout(TIMEOUT_MS) });
  await res.body?.cancel();
  return res.status;
}

/** A short bound: a paused (SIGSTOPped) node must fail a poll's attempt quickly, not after the client's 30 s. */
function client(node: Reachable): ShoalClient {
  assertLoopback(node.url);
  return new ShoalClient({ url: node.url, timeoutMs: 5000 });
}

/**
 * Every page of `GET /v1/files` under `prefix` (cluster-wide, or this node's own copies with `local`), in the order
 * received; `limit` is the page size (default 100).
 */
export async function listAll(node: Reachable, prefix: string, opts: { local?: boolean; limit?: number; maxPages?: number } = {}): Promise<{ items: FileItem[]; pages: number }> {
  const items: FileItem[] = [];
  let pages = 0;
  for await (const page of client(node).pages({ prefix, limit: opts.limit ?? 100, local: opts.local || undefined })) {
    items.push(...page.items);
    if (++pages >= (opts.maxPages ?? 1000) && page.nextCursor) throw new Error(`${node.name}: the listing of "${prefix}" did not end within ${pages} pages`);
  }
  return { items, pages };
}

/** This node's own live copies under `prefix`. */
export async function localItems(node: Reachable, prefix: string, limit?: number): Promise<FileItem[]> {
  return (await listAll(node, prefix, { local: true, limit })).items;
}

export function nodeInfo(node: Reachable): Promise<NodeInfo> {
  return client(node).nodeInfo();
}

/** The sum of every sample of a metric (all label values), or only of those whose labels include `labels`. */
export async function metric(node: Reachable, name: string, labels: Record<string, string> = {}): Promise<number> {
  assertLoopback(node.url);
  const text = await (await fetch(`${node.url}/metrics`, { headers: { accept: 'text/plain' }, signal: AbortSignal.timeout(5000) })).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    if (!Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) continue;
    sum += Number(m[3]);
  }
  return sum;
}

/** Runs `fn` over `items` with at most `width` at a time. */
export async function inBatches<T, R>(items: readonly T[], width: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += width) out.push(...(await Promise.all(items.slice(i, i + width).map((it, j) => fn(it, i + j)))));
  return out;
}
