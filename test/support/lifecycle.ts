import { createHash, randomBytes } from 'node:crypto';
import type { FileListDto } from '../../src/node/api/files.dto.js';
import type { MembershipDto, NodeRecordDto } from '../../src/common/protocol/membership.dto.js';
import { getJson, requestJson } from './http.js';
import { pollUntil, sleep } from './poll-until.js';
import type { ShoalProcess } from './processes.js';

/** Helpers for lifecycle tests (restart, decommission, zones): writes under load, copies per key, metrics. */

export interface Written {
  key: string;
  sha256: string;
  size: number;
  /** when the write was acknowledged (ms since the epoch) */
  at: number;
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function fileUrl(node: ShoalProcess, key: string): string {
  return `${node.url}/v1/files/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/** One PUT; resolves the acknowledged write, or `undefined` for any refusal (503 and the like) or network error. */
export async function put(node: ShoalProcess, key: string, data: Buffer): Promise<Written | undefined> {
  try {
    const res = await fetch(fileUrl(node, key), { method: 'PUT', body: data, headers: { 'content-type': 'application/octet-stream' }, signal: AbortSignal.timeout(15_000) });
    await res.text();
    return res.status === 201 ? { key, sha256: sha256(data), size: data.length, at: Date.now() } : undefined;
  } catch {
    return undefined;
  }
}

export async function get(node: ShoalProcess, key: string): Promise<{ status: number; body: Buffer }> {
  const res = await fetch(fileUrl(node, key), { signal: AbortSignal.timeout(15_000) });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

/** Writes `count` files of `size` bytes through the given nodes in turn; returns the acknowledged ones. */
export async function writeMany(nodes: ShoalProcess[], prefix: string, count: number, size = 2048): Promise<Written[]> {
  const out: Written[] = [];
  for (let i = 0; i < count; i += 8) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(8, count - i) }, (_, j) => put(nodes[(i + j) % nodes.length], `${prefix}/${String(i + j).padStart(5, '0')}`, randomBytes(size))),
    );
    for (const w of batch) if (w) out.push(w);
  }
  return out;
}

/**
 * A bounded write load (at most `maxWrites`, at most `maxMs`): sequential PUTs of fresh keys through whichever of
 * `targets()` is next. Only acknowledged (201) writes are recorded; they are what must never be lost.
 */
export function startLoad(targets: () => ShoalProcess[], prefix: string, opts: { maxWrites?: number; maxMs?: number; size?: number } = {}) {
  const acked: Written[] = [];
  let refused = 0;
  let stop = false;
  const deadline = Date.now() + (opts.maxMs ?? 120_000);
  const done = (async () => {
    for (let i = 0; i < (opts.maxWrites ?? 5000) && !stop && Date.now() < deadline; i++) {
      const nodes = targets().filter((n) => n.running);
      if (nodes.length === 0) {
        await sleep(50);
        continue;
      }
      const w = await put(nodes[i % nodes.length], `${prefix}/${String(i).padStart(6, '0')}`, randomBytes(opts.size ?? 2048));
      if (w) acked.push(w);
      else refused++;
      await sleep(5);
    }
  })();
  return {
    acked,
    get refused() {
      return refused;
    },
    async stop(): Promise<void> {
      stop = true;
      await done;
    },
  };
}

/** Every copy a node holds under `prefix` (GET /v1/files?local=true), as key → sha256. */
export async function localCopies(node: ShoalProcess, prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let cursor: string | null = null;
  for (let page = 0; page < 1000; page++) {
    const q = new URLSearchParams({ prefix, limit: '1000', local: 'true' });
    if (cursor) q.set('cursor', cursor);
    const res = await requestJson<FileListDto>(`${node.url}/v1/files?${q}`);
    if (res.status !== 200) throw new Error(`${node.name}: local listing answered ${res.status}`);
    for (const item of res.body.items) out.set(item.key, item.sha256);
    cursor = res.body.nextCursor;
    if (!cursor) return out;
  }
  throw new Error(`${node.name}: the local listing did not end`);
}

/** Which of `nodes` hold each written file with the right content. */
export async function holders(nodes: ShoalProcess[], prefix: string, written: Written[]): Promise<Map<string, ShoalProcess[]>> {
  const copies = await Promise.all(nodes.map(async (n) => [n, await localCopies(n, prefix)] as const));
  return new Map(written.map((w) => [w.key, copies.filter(([, c]) => c.get(w.key) === w.sha256).map(([n]) => n)]));
}

/** Polls until every written file is held, with its content, by exactly `n` of `nodes`. */
export async function awaitCopies(nodes: ShoalProcess[], prefix: string, written: Written[], n: number, timeoutMs = 30_000): Promise<void> {
  await pollUntil(
    async () => {
      const h = await holders(nodes, prefix, written);
      const wrong = [...h].filter(([, list]) => list.length !== n);
      if (wrong.length) throw new Error(`${wrong.length} of ${written.length} files are not on exactly ${n} nodes, e.g. ${wrong.slice(0, 3).map(([k, l]) => `${k}: ${l.map((p) => p.name).join(',') || 'none'}`).join('; ')}`);
    },
    { timeoutMs, intervalMs: 500, message: `files did not settle on ${n} copies` },
  );
}

/** Every written file reads back, byte for byte, through `node`. */
export async function expectReadable(node: ShoalProcess, written: Written[]): Promise<void> {
  const bad: string[] = [];
  for (let i = 0; i < written.length; i += 16) {
    await Promise.all(
      written.slice(i, i + 16).map(async (w) => {
        const r = await get(node, w.key);
        if (r.status !== 200 || sha256(r.body) !== w.sha256) bad.push(`${w.key}: ${r.status}`);
      }),
    );
  }
  if (bad.length) throw new Error(`${bad.length} of ${written.length} acknowledged files do not read back through ${node.name}: ${bad.slice(0, 5).join(', ')}`);
}

/** The sum over `nodes` of a Prometheus counter or gauge (all label sets, or those matching `labels`). */
export async function metricSum(nodes: ShoalProcess[], name: string, labels = ''): Promise<number> {
  let sum = 0;
  for (const n of nodes.filter((p) => p.running)) {
    const text = await (await fetch(`${n.url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    for (const line of text.split('\n')) {
      const m = new RegExp(`^${name}(\\{[^}]*\\})? ([-+0-9.eE]+)$`).exec(line);
      if (m && (m[1] ?? '').includes(labels)) sum += Number(m[2]);
    }
  }
  return sum;
}

export async function nodeRecord(registry: ShoalProcess, id: string): Promise<NodeRecordDto> {
  const res = await getJson<MembershipDto>(`${registry.url}/v1/nodes`);
  const n = res.body.nodes.find((x) => x.id === id);
  if (!n) throw new Error(`${registry.name} does not list ${id}`);
  return n;
}

export function awaitStatus(registry: ShoalProcess, id: string, status: NodeRecordDto['status'], timeoutMs = 15_000): Promise<NodeRecordDto> {
  return pollUntil(
    async () => {
      const n = await nodeRecord(registry, id);
      if (n.status !== status) throw new Error(`${id} is ${n.status}`);
      return n;
    },
    { timeoutMs, intervalMs: 100, message: `${registry.name} did not list ${id} as ${status}` },
  );
}

export async function nodeId(node: ShoalProcess): Promise<string> {
  return (await getJson<{ id: string }>(`${node.url}/v1/node`)).body.id;
}
