import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { listAll } from '../support/files.js';
import { requestJson } from '../support/http.js';
import { expectedOwners } from '../support/placement.js';
import { sleep } from '../support/poll-until.js';
import type { ShoalProcess } from '../support/processes.js';
import type { ChaosCluster } from './chaos-cluster.js';
import { type ChaosReport, KEY_PREFIX, N, PARTITION_BITS } from './chaos-types.js';
import { judge, latestAcknowledged, realTimeOrderViolations } from './history.js';
import type { RunLog } from './report.js';
import type { Workload } from './workload.js';

export interface CheckerOptions {
  keys: readonly string[];
  convergenceTimeoutMs: number;
  syncIntervalMs: number;
  /** start of the load (Date.now ms) */
  t0: () => number;
}

/**
 * The judgement of a chaos run (see history.ts for the model): reads during the run against the whole history,
 * the real-time order of acknowledged versions, convergence of the owners' replicas, the final state read through
 * every node, no leftovers in DATA_DIR/tmp, every process ready.
 */
export class Checker {
  constructor(
    private readonly opts: CheckerOptions,
    private readonly c: ChaosCluster,
    private readonly w: Workload,
    private readonly rec: RunLog,
  ) {}

  /** Reads during the run, judged against the whole history: never older than a write acknowledged before them. */
  judgeReads(): void {
    for (const read of this.w.reads) {
      const verdict = judge(this.w.writes.get(read.key) ?? [], read.observed, read.start, read.end);
      if (verdict.ok || verdict.kind === 'invented-bytes') continue; // invented bytes were reported when read
      const latest = latestAcknowledged(this.w.writes.get(read.key) ?? [], read.start);
      this.rec.violate({
        kind: verdict.kind!,
        key: read.key,
        node: read.node,
        at: read.start - this.opts.t0(),
        detail: `read [${read.start - this.opts.t0()}, ${read.end - this.opts.t0()}] ms gave ${read.observed ?? '404'}; acknowledged before it: ${latest.map((o) => `${o.kind}#${o.id} ${o.value ?? ''} [${o.start - this.opts.t0()}, ${o.end - this.opts.t0()}]`).join('; ')}`,
      });
    }
  }

  /** DESIGN §3 Versions: a write acknowledged after another started later has the higher version (history.ts). */
  judgeRealTimeOrder(): void {
    for (const [key, ops] of this.w.writes) {
      for (const { earlier, later } of realTimeOrderViolations(ops)) {
        this.rec.violate({
          kind: 'real-time-order',
          key,
          at: later.start - this.opts.t0(),
          detail: `put#${later.id} [${later.start - this.opts.t0()}, ${later.end - this.opts.t0()}] ms got version ${later.version}, not above ${earlier.version} of put#${earlier.id} acknowledged at ${earlier.end - this.opts.t0()} ms, before it started`,
        });
      }
    }
  }

  /** Polls until every owner holds the same version of every key (and non-owners hold no live copy), twice in a row. */
  async awaitConvergence(): Promise<Snapshot> {
    const deadline = Date.now() + this.opts.convergenceTimeoutMs;
    let previous: Snapshot | undefined;
    let snap: Snapshot | undefined;
    while (Date.now() < deadline) {
      try {
        snap = await this.snapshot();
        if (snap.converged && previous?.converged && previous.fingerprint === snap.fingerprint) return snap;
      } catch (err) {
        this.rec.notes.push(`snapshot failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      previous = snap;
      await sleep(Math.max(1000, this.opts.syncIntervalMs));
    }
    snap ??= await this.snapshot();
    for (const problem of snap.problems) this.rec.violate({ kind: problem.kind, key: problem.key, detail: `not converged after ${this.opts.convergenceTimeoutMs} ms: ${problem.detail}` });
    if (snap.problems.length === 0) this.rec.violate({ kind: 'not-converged', detail: 'the replica state kept changing until the deadline' });
    return snap;
  }

  private async snapshot(): Promise<Snapshot> {
    const ids = this.c.nodes.map((n) => this.c.nodeIds.get(n)!);
    const byId = new Map(this.c.nodes.map((n) => [this.c.nodeIds.get(n)!, n]));
    const live = new Map<string, Map<string, string>>(); // node id -> key -> "version sha"
    const held = new Map<string, Map<string, StoredEntry | null>>(); // node id -> key -> entry (tombstones too)
    for (const node of this.c.nodes) {
      const id = this.c.nodeIds.get(node)!;
      live.set(id, new Map((await listLocal(node)).map((i) => [i.key, `${i.version} ${i.sha256}`])));
      held.set(id, await this.versions(node, this.opts.keys));
    }
    const problems: Snapshot['problems'] = [];
    const state = new Map<string, StoredEntry | null>();
    const ownersByKey = new Map<string, string[]>();
    const unknown = [...new Set([...live.values()].flatMap((m) => [...m.keys()]))].filter((k) => !this.opts.keys.includes(k));
    for (const k of unknown) problems.push({ kind: 'invented-key', key: k, detail: `listed by some node, but no client wrote it` });
    for (const key of this.opts.keys) {
      const owners = expectedOwners(key, ids, N, PARTITION_BITS);
      ownersByKey.set(key, owners.map((id) => byId.get(id)!.name));
      const entries = owners.map((id) => held.get(id)!.get(key) ?? null);
      const shown = entries.map((e, i) => `${byId.get(owners[i])!.name}=${describe(e)}`).join(', ');
      const first = entries[0];
      if (!entries.every((e) => sameEntry(e, first))) {
        problems.push({ kind: 'divergent-replicas', key, detail: `owners hold ${shown}` });
        continue;
      }
      state.set(key, first);
      const holders = ids.filter((id) => live.get(id)!.has(key));
      const expected = first && !first.deleted ? owners : [];
      const wrong = holders.filter((id) => !expected.includes(id) || live.get(id)!.get(key) !== `${first!.version} ${first!.sha256}`);
      const missing = expected.filter((id) => !holders.includes(id));
      if (wrong.length > 0 || missing.length > 0) {
        const listed = holders.map((id) => `${byId.get(id)!.name}=${live.get(id)!.get(key)}`).join(', ') || 'none';
        problems.push({ kind: 'wrong-replica-count', key, detail: `${expected.length} copies expected (owners: ${shown}); live copies listed: ${listed}` });
      }
    }
    const fingerprint = JSON.stringify([...state.entries()]);
    return { converged: problems.length === 0, problems, state, owners: ownersByKey, fingerprint };
  }

  /** The entries a node holds for `keys`, tombstones included (the internal route, with the cluster token). */
  private async versions(node: ShoalProcess, keys: readonly string[]): Promise<Map<string, StoredEntry | null>> {
    const res = await requestJson<{ entries: (StoredEntry | null)[] }>(`${node.url}/internal/versions`, {
      json: { keys },
      token: this.c.token,
      timeoutMs: 5000,
    });
    if (res.status !== 200 && res.status !== 201) throw new Error(`${node.name}: POST /internal/versions answered ${res.status}`);
    return new Map(keys.map((k, i) => [k, res.body.entries[i]]));
  }


  /** Every key, through every node: the value of its last acknowledged write, or absent after a delete. */
  async checkFinalState(snap: Snapshot): Promise<ChaosReport['finalKeys']> {
    const result = { live: 0, deleted: 0, neverWritten: 0 };
    for (const key of this.opts.keys) {
      const ops = (this.w.writes.get(key) ?? []).filter((o) => !(o.kind === 'delete' && o.cls === 'refused'));
      const seen = new Map<string, string | null>(); // node name -> observed
      for (const node of this.c.nodes) {
        const ans = await this.w.call('GET', node, key);
        let observed: string | null;
        if (ans.status === 200 && !ans.cut && ans.body) {
          observed = createHash('sha256').update(ans.body).digest('hex');
          const etag = (ans.headers?.get('etag') ?? '').replace(/"/g, '');
          if (etag !== observed) this.rec.violate({ kind: 'corrupt-read', key, node: node.name, detail: `final read: bytes hash to ${observed}, ETag ${etag}` });
        } else if (ans.status === 404) {
          observed = null;
        } else {
          this.rec.violate({ kind: 'final-read-failed', key, node: node.name, detail: `GET answered ${ans.status ?? ans.error}${ans.cut ? ' (cut)' : ''}` });
          continue;
        }
        seen.set(node.name, observed);
        this.rec.record({ kind: 'final-read', key, node: node.name, observed });
        const verdict = judge(ops, observed, Infinity, Infinity);
        if (!verdict.ok) {
          const latest = verdict.latestAcked.map((o) => `${o.kind}#${o.id} ${o.value ?? ''} [${o.start - this.opts.t0()}, ${o.end - this.opts.t0()}] ms`).join('; ');
          this.rec.violate({
            kind: verdict.kind!,
            key,
            node: node.name,
            detail: `final read gave ${observed ?? '404'}; allowed: ${verdict.allowed.map((v) => v ?? '404').join(', ')}; last acknowledged: ${latest || 'none'}`,
          });
        }
      }
      const values = new Set(seen.values());
      if (values.size > 1) {
        this.rec.violate({ kind: 'nodes-disagree', key, detail: [...seen.entries()].map(([n, v]) => `${n}=${v ?? '404'}`).join(', ') });
      }
      const stored = snap.state.get(key);
      this.rec.record({ kind: 'final-state', key, owners: snap.owners.get(key), entry: stored ?? null });
      const storedValue = stored && !stored.deleted ? stored.sha256 : null;
      if (snap.converged && values.size === 1 && [...values][0] !== storedValue) {
        this.rec.violate({ kind: 'read-disagrees-with-replicas', key, detail: `reads give ${[...values][0] ?? '404'}, the owners hold ${describe(stored ?? null)}` });
      }
      if (storedValue) result.live++;
      else if (ops.length > 0) result.deleted++;
      else result.neverWritten++;
    }
    return result;
  }


  async checkTmpDirs(): Promise<void> {
    for (const node of this.c.nodes) {
      const dir = path.join(node.dataDir, 'tmp');
      const left = await readdir(dir).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? [] : [`(unreadable: ${err.code})`]));
      if (left.length > 0) this.rec.violate({ kind: 'tmp-leftovers', node: node.name, detail: `${left.length} files in ${dir}: ${left.slice(0, 5).join(', ')}` });
    }
  }

  async checkReady(): Promise<void> {
    for (const p of [...this.c.registries, ...this.c.nodes]) {
      const res = await requestJson(`${p.url}/health/ready`, { timeoutMs: 5000 }).catch((err: unknown) => ({ status: 0, body: String(err) }));
      if (res.status !== 200) this.rec.violate({ kind: 'not-ready', node: p.name, detail: `/health/ready answered ${res.status} ${JSON.stringify(res.body)}` });
    }
  }
}

interface StoredEntry {
  key: string;
  version: string;
  sha256: string;
  size: number;
  deleted: boolean;
}

export interface Snapshot {
  converged: boolean;
  problems: { kind: string; key: string; detail: string }[];
  /** the owners' common entry per key (where they agree) */
  state: Map<string, StoredEntry | null>;
  /** the names of each key's owners */
  owners: Map<string, string[]>;
  fingerprint: string;
}

function sameEntry(a: StoredEntry | null, b: StoredEntry | null): boolean {
  if (a === null || b === null) return a === b;
  return a.version === b.version && a.deleted === b.deleted && a.sha256 === b.sha256;
}

function describe(e: StoredEntry | null): string {
  if (!e) return 'nothing';
  return e.deleted ? `tombstone ${e.version}` : `${e.version} ${e.sha256.slice(0, 12)}…`;
}

/** Every page of a node's own live copies under the chaos prefix, in small pages so that paging is exercised. */
async function listLocal(node: ShoalProcess): Promise<{ key: string; version: string; sha256: string }[]> {
  return (await listAll(node, KEY_PREFIX, { local: true, limit: 7 })).items;
}
