import { isLive as spawnerIsLive } from '../../src/tools/cluster/server-process.js';

/** Minimal HTTP helpers over global fetch for e2e tests. Only loopback URLs are accepted. */

/** A response with its body parsed as JSON when it is JSON (including application/problem+json), else as text. */
export interface JsonResponse<T> {
  status: number;
  headers: Headers;
  body: T;
}

export interface RequestOptions {
  method?: string;
  /** Sent as `Authorization: Bearer <token>` (the cluster token or a client API token). */
  token?: string;
  /** Serialised as JSON. */
  json?: unknown;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export async function requestJson<T = unknown>(url: string, options: RequestOptions = {}): Promise<JsonResponse<T>> {
  assertLoopback(url);
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, {
    method: options.method ?? (options.json === undefined ? 'GET' : 'POST'),
    headers,
    body: options.json === undefined ? undefined : JSON.stringify(options.json),
    signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
  });
  const text = await res.text();
  const isJson = /\bjson\b/.test(res.headers.get('content-type') ?? '') && text.length > 0;
  return { status: res.status, headers: res.headers, body: (isJson ? JSON.parse(text) : text) as T };
}

export function getJson<T = unknown>(url: string, token?: string): Promise<JsonResponse<T>> {
  return requestJson<T>(url, { token });
}

/** True when `GET <baseUrl>/health/live` answers 2xx; false while nothing listens there. */
export function isLive(baseUrl: string): Promise<boolean> {
  assertLoopback(baseUrl);
  return spawnerIsLive(baseUrl);
}

/** Addresses of network namespaces a test created itself (see netns.ts); nothing else beyond loopback. */
const TEST_HOSTS = new Set<string>();

export function allowTestHost(ip: string): void {
  TEST_HOSTS.add(ip);
}

/** Tests must never reach beyond this machine. */
export function assertLoopback(url: string): void {
  const { hostname } = new URL(url);
  if (hostname !== '127.0.0.1' && !TEST_HOSTS.has(hostname)) throw new Error(`e2e helpers only call 127.0.0.1 and the test's own namespaces, not ${url}`);
}
