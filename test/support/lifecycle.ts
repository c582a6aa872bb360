import { randomBytes } from 'node:crypto';
import type { MembershipDto, NodeRecordDto } from '../../src/common/protocol/membership.dto.js';
import { getFile, localItems, metric, putFile, sha256 } from './files.js';
import { getJson } from './http.js';
import { expectedOwners } from './placement.js';
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

/** One PUT; resolves the acknowledged write, or `undefined` for any refusal (503 and the like) or network error. */
export async function put(node: ShoalProcess, key: string, data: Buffer): Promise<Written | undefined> {
  try {
    const res = await putFile(node, key, data);
    return res.status === 201 ? { key, sha256: sha256(data), size: data.length, at: Date.now() } : undefined;
  } catch {
    return undefined; // a network error or an unreadable answer: not acknowledged
  }
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
  const loop = boundedLoop(targets, { maxMs: opts.maxMs, maxSteps: opts.maxWrites ?? 5000 }, async (i, nodes) => {
    const w = await put(nodes[i % nodes.length], `${prefix}/${String(i).padStart(6, '0')}`, randomBytes(opts.size ?? 2048));
    if (w) acked.push(w);
    else refused++;
    return true;
  });
  return {
    acked,
    get refused() {
      return refused;
    },
    stop: loop.stop,
  };
}

/**
 * Runs `step(i, running targets)` again and again until stopped, `maxMs` (default 120 s) has passed or `maxSteps` ran:
 * 5 ms apart, 50 ms while no target runs or `step` had nothing to do (returned false).
 */
function boundedLoop(targets: () => ShoalProcess[], opts: { maxMs?: number; maxSteps?: number }, step: (i: number, nodes: ShoalProcess[]) => Promise<boolean>): { stop(): Promise<void> } {
  let stop = false;
  const deadline = Date.now() + (opts.maxMs ?? 120_000);
  const done = (async () => {
    for (let i = 0; i < (opts.maxSteps ?? Infinity) && !stop && Date.now() < deadline; i++) {
      const nodes = targets().filter((n) => n.running);
      if (nodes.length === 0 || !(await step(i, nodes))) {
        await sleep(50);
        continue;
      }
      await sleep(5);
    }
  })();
  return {
    async stop(): Promise<void> {
      stop = true;
      await done;
    },
  };
}

/** Every copy a node holds under `prefix` (GET /v1/files?local=true), as key → sha256. */
export async function localCopies(node: ShoalProcess, prefix: string): Promise<Map<string, string>> {
  return new Map((await localItems(node, prefix, 1000)).map((item) => [item.key, item.sha256]));
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

/**
 * Polls until every written file is held, with its content, by exactly its owners among `nodes` — the owners the
 * nodes themselves compute (rendezvous hashing over the given members' ids, PARTITION_BITS at its default). A count
 * of copies alone cannot tell a settled placement from a transient one: a coordinator keeps a copy it does not own
 * while a hint for a slow owner is pending, and an interim holder keeps one until the owners confirm.
 */
export async function awaitPlacement(nodes: { node: ShoalProcess; id: string }[], prefix: string, written: Written[], n: number, timeoutMs = 30_000): Promise<void> {
  const ids = nodes.map(({ id }) => id);
  const idOf = new Map(nodes.map(({ node, id }) => [node, id]));
  await pollUntil(
    async () => {
      const h = await holders(nodes.map((x) => x.node), prefix, written);
      const wrong: string[] = [];
      for (const [key, list] of h) {
        const want = expectedOwners(key, ids, n).sort().join(',');
        const got = list.map((x) => idOf.get(x)!).sort().join(',');
        if (got !== want) wrong.push(`${key}: held by ${got || 'none'}, owners ${want}`);
      }
      if (wrong.length) throw new Error(`${wrong.length} of ${written.length} files are not held by exactly their owners, e.g. ${wrong.slice(0, 3).join('; ')}`);
    },
    { timeoutMs, intervalMs: 500, message: 'files did not settle on their owners' },
  );
}

/** Every written file reads back, byte for byte, through `node`. */
export async function expectReadable(node: ShoalProcess, written: Written[]): Promise<void> {
  const bad: string[] = [];
  for (let i = 0; i < written.length; i += 16) {
    await Promise.all(
      written.slice(i, i + 16).map(async (w) => {
        const r = await getFile(node, w.key);
        if (r.status !== 200 || sha256(r.body) !== w.sha256) bad.push(`${w.key}: ${r.status}`);
      }),
    );
  }
  if (bad.length) throw new Error(`${bad.length} of ${written.length} acknowledged files do not read back through ${node.name}: ${bad.slice(0, 5).join(', ')}`);
}

/** The sum over the running `nodes` of a Prometheus counter or gauge (all label sets, or those matching `labels`). */
export async function metricSum(nodes: ShoalProcess[], name: string, labels: Record<string, string> = {}): Promise<number> {
  let sum = 0;
  for (const n of nodes.filter((p) => p.running)) sum += await metric(n, name, labels);
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

/**
 * Bounded reads of already acknowledged files while something happens (at most `maxMs`): every answer must be a 200
 * with the written bytes. Returns the reads done and the ones that were wrong.
 */
export function startReads(targets: () => ShoalProcess[], written: Written[], opts: { maxMs?: number } = {}) {
  const bad: string[] = [];
  let reads = 0;
  const loop = boundedLoop(targets, opts, async (i, nodes) => {
    const w = written[(i * 7919) % written.length];
    if (!w) return false;
    const node = nodes[i % nodes.length];
    const r = await getFile(node, w.key).catch((err: Error) => ({ status: 0, body: Buffer.from(err.message) }));
    reads++;
    if (r.status !== 200 || sha256(r.body) !== w.sha256) bad.push(`${w.key} via ${node.name}: ${r.status}`);
    return true;
  });
  return {
    bad,
    get reads() {
      return reads;
    },
    stop: loop.stop,
  };
}
