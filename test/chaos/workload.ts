import { createHash } from 'node:crypto';
import type { ShoalProcess } from '../support/processes.js';
import { sleep } from '../support/poll-until.js';
import { KiB, MiB, W } from './chaos-types.js';
import type { WriteOp } from './history.js';
import { Rng, substream } from './prng.js';
import type { RunLog } from './report.js';

/** An answer (or the lack of one) to a client request. */
export interface Answer {
  status?: number;
  headers?: Headers;
  body?: Buffer;
  /** the connection was cut before the whole body arrived */
  cut?: boolean;
  /** no HTTP answer: 'timeout', 'conn-refused' (nothing listened: nothing was written), 'conn-error' */
  error?: 'timeout' | 'conn-refused' | 'conn-error';
  end: number;
}

export interface ReadRecord {
  key: string;
  node: string;
  start: number;
  end: number;
  /** sha256 seen, or null for a 404 */
  observed: string | null;
}

export interface WorkloadOptions {
  seed: number;
  keys: readonly string[];
  /** the nodes clients talk to (the same objects across restarts) */
  nodes: () => readonly ShoalProcess[];
  /** start of the load (Date.now ms); history times are relative to it */
  t0: () => number;
  /** hosts beyond 127.0.0.1 that may be called: the run's own network namespaces */
  allowedHosts: () => string[];
  bigWriteChance: number;
  requestTimeoutMs: number;
}

/**
 * The clients of a chaos run: each writes, overwrites, deletes and reads random keys of a small key space through
 * random nodes, with seeded sizes and bytes. Every write is registered before it is sent (see history.ts) and every
 * answer recorded; what a read saw is checked against the ETag and the writes at once, and kept for the checker.
 */
export class Workload {
  /** every write and delete sent, by key, with its outcome class */
  readonly writes = new Map<string, WriteOp[]>();
  /** reads with an answer (a 200 or a 404), for the checker */
  readonly reads: ReadRecord[] = [];
  bytesWritten = 0;
  private opSeq = 0;

  constructor(
    private readonly opts: WorkloadOptions,
    private readonly rec: RunLog,
  ) {}

  async client(index: number, until: number): Promise<void> {
    const rng = new Rng(substream(this.opts.seed, `client-${index}`));
    for (let i = 0; Date.now() < until; i++) {
      const key = rng.pick(this.opts.keys);
      const node = rng.pick(this.opts.nodes());
      const roll = rng.next();
      if (roll < 0.45) await this.put(rng, index, i, node, key);
      else if (roll < 0.6) await this.delete(node, key);
      else await this.get(node, key);
      await sleep(rng.int(0, 25));
    }
  }

  private valueSize(rng: Rng): number {
    if (rng.chance(this.opts.bigWriteChance)) return 2 * MiB + rng.int(0, 64 * KiB);
    const r = rng.next();
    if (r < 0.08) return 0;
    if (r < 0.4) return rng.int(1, 16 * KiB); // inline in the metadata store
    if (r < 0.8) return rng.int(16 * KiB + 1, 64 * KiB);
    return rng.int(64 * KiB, 200 * KiB);
  }

  private async put(rng: Rng, client: number, i: number, node: ShoalProcess, key: string): Promise<void> {
    const size = this.valueSize(rng);
    const data = rng.bytes(size, `chaos seed=${this.opts.seed} client=${client} op=${i} key=${key}\n`);
    const sha = createHash('sha256').update(data).digest('hex');
    const op = this.begin('put', key, sha);
    const ans = await this.call('PUT', node, key, data);
    let outcome: string;
    if (ans.status === 201) {
      const body = parseJson(ans.body);
      const info = body as { sha256?: unknown; replicas?: unknown } | undefined;
      if (info && typeof info === 'object' && info.sha256 === sha) {
        outcome = 'ack';
        this.bytesWritten += size;
        if (typeof info.replicas !== 'number' || info.replicas < W) {
          this.rec.violate({ kind: 'under-replicated-ack', key, node: node.name, at: op.start - this.opts.t0(), detail: `PUT answered 201 with replicas ${String(info.replicas)} (W is ${W})` });
        }
      } else if (body) {
        outcome = 'ack-wrong-sha';
        this.rec.violate({ kind: 'corrupt-ack', key, node: node.name, at: op.start - this.opts.t0(), detail: `PUT answered 201 with sha256 ${(body as { sha256?: string }).sha256}; the body sent hashes to ${sha}` });
      } else {
        outcome = 'ack-unreadable';
      }
    } else {
      outcome = this.failureOutcome(ans);
    }
    this.finish(op, key, outcome, ans, node, { size, status: ans.status, version: (parseJson(ans.body) as { version?: string } | undefined)?.version });
  }

  private async delete(node: ShoalProcess, key: string): Promise<void> {
    const op = this.begin('delete', key, null);
    const ans = await this.call('DELETE', node, key);
    let outcome: string;
    if (ans.status === 204) outcome = 'ack';
    else if (ans.status === 404) {
      outcome = 'not-found';
      // Nothing was deleted, and the coordinator saw no live version: that is a read of "absent".
      this.reads.push({ key, node: node.name, start: op.start, end: ans.end, observed: null });
    } else outcome = this.failureOutcome(ans);
    this.finish(op, key, outcome, ans, node, { status: ans.status });
  }

  private async get(node: ShoalProcess, key: string): Promise<void> {
    const start = Date.now();
    const ans = await this.call('GET', node, key);
    let outcome: string;
    let sha: string | undefined;
    if (ans.status === 200 && !ans.cut && ans.body) {
      outcome = 'ok';
      sha = createHash('sha256').update(ans.body).digest('hex');
      const etag = (ans.headers?.get('etag') ?? '').replace(/^W\//, '').replace(/"/g, '');
      const at = start - this.opts.t0();
      if (etag !== sha) {
        this.rec.violate({ kind: 'corrupt-read', key, node: node.name, at, detail: `200 with ${ans.body.length} bytes hashing to ${sha}, ETag ${etag}` });
      } else if (!(this.writes.get(key) ?? []).some((w) => w.value === sha)) {
        this.rec.violate({ kind: 'invented-bytes', key, node: node.name, at, detail: `200 with ${ans.body.length} bytes (sha256 ${sha}) that no client wrote to this key` });
      }
      this.reads.push({ key, node: node.name, start, end: ans.end, observed: sha });
    } else if (ans.status === 404) {
      outcome = 'not-found';
      this.reads.push({ key, node: node.name, start, end: ans.end, observed: null });
    } else if (ans.status === 200) {
      outcome = 'cut';
    } else if (ans.status === 503) {
      outcome = 'unavailable';
    } else {
      outcome = ans.error ?? `http-${ans.status}`;
    }
    this.checkServerError('GET', node, key, start, ans);
    this.rec.count('get', outcome);
    this.rec.record({ kind: 'get', key, node: node.name, start: start - this.opts.t0(), end: ans.end - this.opts.t0(), outcome, status: ans.status, sha, error: ans.error });
  }

  /** 503 INSUFFICIENT_REPLICAS without `replicas` is a refusal before anything was written; with it, a maybe. */
  private failureOutcome(ans: Answer): string {
    if (ans.error) return ans.error;
    if (ans.status === 503) {
      const body = parseJson(ans.body) as { code?: string; replicas?: unknown } | undefined;
      if (body?.code === 'INSUFFICIENT_REPLICAS') return typeof body.replicas === 'number' && (body as { indeterminate?: boolean }).indeterminate !== false ? 'maybe-503' : 'refused-503';
      if (body?.code === 'CLOCK_SKEW' || body?.code === 'WRITE_CONFLICT') return 'refused-503';
      return `http-503-${body?.code ?? 'unknown'}`;
    }
    return ans.cut ? 'cut' : `http-${ans.status}`;
  }

  /** Registers a write before it is sent: until it is answered it counts as "maybe, at any time from now". */
  private begin(kind: 'put' | 'delete', key: string, value: string | null): WriteOp {
    const op: WriteOp = { id: ++this.opSeq, kind, value, cls: 'maybe', start: Date.now(), end: Infinity };
    const list = this.writes.get(key) ?? [];
    list.push(op);
    this.writes.set(key, list);
    return op;
  }

  private finish(op: WriteOp, key: string, outcome: string, ans: Answer, node: ShoalProcess, extra: Record<string, unknown>): void {
    if (outcome === 'ack') op.cls = 'ack';
    if (outcome === 'ack' && typeof extra.version === 'string') op.version = extra.version;
    else if (outcome === 'refused-503' || outcome === 'conn-refused' || (op.kind === 'delete' && outcome === 'not-found')) op.cls = 'refused';
    else op.cls = 'maybe';
    // With an HTTP answer the version was taken before it; without one it may be taken later still.
    op.end = ans.error === undefined || ans.error === 'conn-refused' ? ans.end : Infinity;
    this.checkServerError(op.kind === 'put' ? 'PUT' : 'DELETE', node, key, op.start, ans);
    this.rec.count(op.kind, outcome);
    this.rec.record({ kind: op.kind, id: op.id, key, node: node.name, start: op.start - this.opts.t0(), end: ans.end - this.opts.t0(), outcome, cls: op.cls, sha: op.value, ...extra, error: ans.error });
  }

  /** 500 is "unexpected error": never an acceptable answer, whatever the faults (502 and 503 are). */
  private checkServerError(method: string, node: ShoalProcess, key: string, start: number, ans: Answer): void {
    if (ans.status === undefined || ans.status < 500 || ans.status === 502 || ans.status === 503) return;
    const problem = parseJson(ans.body) as { code?: string; detail?: string } | undefined;
    this.rec.violate({ kind: 'server-error', key, node: node.name, at: start - this.opts.t0(), detail: `${method} answered ${ans.status} ${problem?.code ?? ''} ${problem?.detail ?? ''}`.trim() });
  }


  /** One client request with a deadline; never throws. Only 127.0.0.1 (every URL comes from a ShoalProcess). */
  async call(method: 'PUT' | 'GET' | 'DELETE', node: ShoalProcess, key: string, body?: Buffer): Promise<Answer> {
    const url = `${node.url}/v1/files/${key.split('/').map(encodeURIComponent).join('/')}`;
    const hostname = new URL(url).hostname;
    if (hostname !== '127.0.0.1' && !this.opts.allowedHosts().includes(hostname)) throw new Error(`the chaos suite only calls 127.0.0.1 and its own namespaces, not ${url}`);
    try {
      const res = await fetch(url, {
        method,
        body,
        headers: body ? { 'content-type': 'application/octet-stream' } : undefined,
        signal: AbortSignal.timeout(this.opts.requestTimeoutMs),
      });
      const chunks: Buffer[] = [];
      let cut = false;
      try {
        if (res.body) for await (const chunk of res.body) chunks.push(Buffer.from(chunk));
      } catch {
        cut = true;
      }
      const data = Buffer.concat(chunks);
      const declared = res.headers.get('content-length');
      if (!cut && method !== 'PUT' && declared !== null && Number(declared) !== data.length) cut = true;
      return { status: res.status, headers: res.headers, body: data, cut, end: Date.now() };
    } catch (err) {
      return { error: classifyError(err), end: Date.now() };
    }
  }
}

function classifyError(err: unknown): 'timeout' | 'conn-refused' | 'conn-error' {
  const e = err as { name?: string; cause?: { code?: string; name?: string } };
  if (e.name === 'TimeoutError' || e.cause?.name === 'TimeoutError') return 'timeout';
  if (e.cause?.code === 'ECONNREFUSED') return 'conn-refused';
  return 'conn-error';
}

export function parseJson(body: Buffer | undefined): unknown {
  if (!body || body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}
