import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { MembershipDto } from '../../src/common/protocol/membership.dto.js';
import type { FileListDto, NodeInfoDto } from '../../src/node/api/files.dto.js';
import { partitionOf } from '../../src/node/placement/partition.js';
import { ownersOf } from '../../src/node/placement/placement.js';
import { requestJson } from '../support/http.js';
import { sleep } from '../support/poll-until.js';
import type { Env, ShoalProcess } from '../support/processes.js';
import { newClusterToken, startNode, startRegistry, stopAndRemove } from '../support/start-cluster.js';
import { judge, latestAcknowledged, realTimeOrderViolations, type WriteOp } from './history.js';
import { Rng, substream } from './prng.js';
import { NetLab, type NetHost } from '../support/netns.js';
import { ClockNemesis } from './nemeses/clock.nemesis.js';
import type { Nemesis, NemesisContext } from './nemeses/nemesis.js';
import { PartitionNemesis } from './nemeses/partition.nemesis.js';

/**
 * The chaos suite ("proof under fire"): a 4-node N=3 W=2 R=2 cluster with 2 registries, several clients writing,
 * overwriting, deleting and reading a small key space through every node, and a seeded fault scheduler that SIGKILLs
 * and restarts nodes, pauses them (SIGSTOP/SIGCONT) and restarts registries — never more than one node faulty at a
 * time, so W=2 stays reachable. Every operation is recorded with its start and end; afterwards the faults stop, the
 * cluster heals and converges, and the history is checked (see history.ts for the model):
 *
 *  - during the run, a 200 carries bytes whose sha256 equals the ETag and is a value written to that key, and is not
 *    older than a write acknowledged before the read began (W + R > N);
 *  - after convergence, through every node, each key holds the value of its last acknowledged write or delete (either
 *    of two overlapping ones; or of an unacknowledged write that may have come later), never a resurrected delete;
 *  - every live key is held by exactly its N owners, with identical version and sha256 (tombstones too);
 *  - no node has anything left in DATA_DIR/tmp; every node and registry answers /health/ready;
 *  - no answer is a 500, and every process stopped with SIGTERM ends cleanly.
 *
 * Used by chaos.e2e-spec.ts (a short run in `npm test`) and scripts/chaos.mjs (long runs).
 */

export interface ChaosOptions {
  /** Load and faults last this long; then the cluster heals and the checks run. */
  durationMs: number;
  seed: number;
  /** Concurrent clients (default 4). */
  clients?: number;
  /** Size of the key space (default 16): small, so that clients collide on keys. */
  keys?: number;
  /** Inject faults (default true); false gives a baseline run of the same load. */
  faults?: boolean;
  /**
   * Also restart nodes gracefully (SIGTERM — a stop that keeps the node's place in the placement — then start it
   * again): peers hint for it meanwhile and it catches up when back (default false).
   */
  gracefulRestarts?: boolean;
  /** Replaces the default fault schedule (node and registry faults) with another one, e.g. rolling-restart.ts. */
  schedule?: FaultSchedule;
  /** Share of PUTs that upload ~2 MiB (default 0.02). */
  bigWriteChance?: number;
  /**
   * Per client request (default 10 s). Requests sent to a node that is paused for longer time out: their outcome is
   * unknown, and the node may still carry them out when it resumes — the case the history model must allow for.
   */
  requestTimeoutMs?: number;
  /** How long the healed cluster gets to converge (default 180 s). */
  convergenceTimeoutMs?: number;
  /** Anti-entropy period of the nodes (default 1000 ms). */
  syncIntervalMs?: number;
  /** LOG_LEVEL of every process (default warn). */
  logLevel?: string;
  /** Logs (one file per process), the operation history and the report go here (default: a new temp dir). */
  workDir?: string;
  /** Keep workDir: 'always', or only when there are violations (default). KEEP_TEST_DATA=1 keeps it too. */
  keepWorkDir?: 'always' | 'on-failure';
  /** Progress lines (default: none). */
  progress?: (line: string) => void;
  /**
   * Nemeses beyond the kill / pause / registry-restart schedule (default none): `partition` (real network
   * partitions; the nodes then run in network namespaces) and `clock` (nodes restarted under libfaketime with
   * offsets of minutes to hours). See test/chaos/nemeses/.
   */
  nemeses?: NemesisName[];
  /** The runner's own kill / pause / registry-restart schedule (default true); false leaves only the nemeses. */
  processFaults?: boolean;
  /** MAX_CLOCK_SKEW_MS of the registries (default 500): raised, skewed nodes keep coordinating writes, so fencing is what is tested. */
  registryMaxClockSkewMs?: number;
}

export type NemesisName = 'partition' | 'clock';

/** A fault schedule of its own, run by the runner in place of the default one (same load, same checks). */
export interface FaultSchedule {
  readonly name: string;
  run(ctx: ScheduleContext, until: number): Promise<void>;
  /** Called after convergence and the checks; what it returns goes into the report as `schedule`. */
  after?(ctx: ScheduleContext): Promise<Record<string, unknown>>;
}

/** What a fault schedule may do to the cluster the runner started. */
export interface ScheduleContext {
  readonly nodes: readonly ShoalProcess[];
  readonly registries: readonly ShoalProcess[];
  readonly token: string;
  nodeId(node: ShoalProcess): string | undefined;
  /** ms since the start of the load */
  now(): number;
  /** File bytes of the writes acknowledged so far. */
  bytesWritten(): number;
  /**
   * Runs one fault on `target` (kept out of the watchdog's way meanwhile), then waits until it is back in service;
   * a failure is a violation and the target is revived. The fault is logged in the report.
   */
  fault(kind: FaultRecord['kind'], target: ShoalProcess, heldMs: number, act: () => Promise<void>): Promise<void>;
  restart(proc: ShoalProcess): Promise<void>;
  checkCleanExit(proc: ShoalProcess, exit: { code: number | null; signal: NodeJS.Signals | null }, when: string): void;
  violate(v: Violation): void;
  log(line: string): void;
}

export interface Violation {
  kind: string;
  key?: string;
  node?: string;
  /** ms since the start of the load */
  at?: number;
  detail: string;
}

export interface FaultRecord {
  /** the runner's own kinds, or a nemesis's (e.g. partition-isolate, clock-skew) */
  kind: 'kill-node' | 'pause-node' | 'restart-node' | 'restart-registry' | (string & {});
  target: string;
  /** ms since the start of the load */
  at: number;
  /** how long the process was killed or paused */
  heldMs: number;
  /** from the fault to the process being back (live, up in every registry, ready) */
  recoveredMs: number;
}

export interface ChaosReport {
  seed: number;
  durationMs: number;
  clients: number;
  keys: number;
  startedAt: string;
  /** wall time of the whole run, start-up to clean-up */
  wallMs: number;
  /** from the end of the load to a converged cluster */
  convergenceMs: number;
  converged: boolean;
  /** operations by kind, then by outcome */
  ops: Record<string, Record<string, number>>;
  faults: Record<string, number>;
  faultLog: FaultRecord[];
  violations: Violation[];
  /** violations by kind (all of them; `violations` keeps at most 50 of each kind) */
  violationCounts: Record<string, number>;
  finalKeys: { live: number; deleted: number; neverWritten: number };
  bytesWritten: number;
  /** What a custom fault schedule reported (see {@link FaultSchedule.after}). */
  schedule?: Record<string, unknown>;
  workDir: string;
  dataDirs: string[];
  notes: string[];
  /** the extra nemeses that ran (test/chaos/nemeses/) */
  nemeses?: string[];
}

const KiB = 1024;
const MiB = 1024 * KiB;
const PARTITION_BITS = 10;
const N = 3;
const W = 2;
const R = 2;
const KEY_PREFIX = 'chaos/';
const MAX_VIOLATIONS_PER_KIND = 50;

/** An answer (or the lack of one) to a client request. */
interface Answer {
  status?: number;
  headers?: Headers;
  body?: Buffer;
  /** the connection was cut before the whole body arrived */
  cut?: boolean;
  /** no HTTP answer: 'timeout', 'conn-refused' (nothing listened: nothing was written), 'conn-error' */
  error?: 'timeout' | 'conn-refused' | 'conn-error';
  end: number;
}

interface ReadRecord {
  key: string;
  node: string;
  start: number;
  end: number;
  /** sha256 seen, or null for a 404 */
  observed: string | null;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const run = new ChaosRun(options);
  return run.execute();
}

class ChaosRun {
  private readonly o: Required<Omit<ChaosOptions, 'workDir' | 'progress' | 'schedule'>> & Pick<ChaosOptions, 'workDir' | 'progress' | 'schedule'>;
  private cluster?: ChaosCluster;
  private lab?: NetLab;
  private readonly hosts = new Map<ShoalProcess, NetHost>();
  private nemeses: Nemesis[] = [];
  private workDir = '';
  private readonly logStreams: WriteStream[] = [];
  private history?: WriteStream;
  private t0 = 0;
  private readonly keys: string[];
  private readonly writes = new Map<string, WriteOp[]>();
  private readonly reads: ReadRecord[] = [];
  private readonly ops: Record<string, Record<string, number>> = {};
  private readonly faultLog: FaultRecord[] = [];
  private readonly violations: Violation[] = [];
  private readonly violationCounts: Record<string, number> = {};
  private readonly notes: string[] = [];
  /** processes that the fault scheduler has taken down or paused on purpose */
  private readonly faulty = new Set<ShoalProcess>();
  private readonly paused = new Set<ShoalProcess>();
  private nodeIds = new Map<ShoalProcess, string>();
  private opSeq = 0;
  private bytesWritten = 0;
  private stopping = false;
  /** set once the cluster has healed: from then on every process should stop cleanly */
  private healed = false;

  constructor(options: ChaosOptions) {
    this.o = {
      clients: 4,
      keys: 16,
      faults: true,
      gracefulRestarts: false,
      bigWriteChance: 0.02,
      requestTimeoutMs: 10_000,
      convergenceTimeoutMs: 180_000,
      syncIntervalMs: 1000,
      logLevel: 'warn',
      keepWorkDir: 'on-failure',
      nemeses: [],
      processFaults: true,
      registryMaxClockSkewMs: 500,
      ...options,
    };
    this.keys = Array.from({ length: this.o.keys }, (_, i) => `${KEY_PREFIX}${i % 2 ? 'dir/' : ''}k${String(i).padStart(2, '0')}`);
  }

  private log(line: string): void {
    this.o.progress?.(line);
  }

  private now(): number {
    return Date.now() - this.t0;
  }

  async execute(): Promise<ChaosReport> {
    const started = Date.now();
    const startedAt = new Date(started).toISOString();
    this.workDir = this.o.workDir ?? (await mkdtemp(path.join(os.tmpdir(), 'shoal-chaos-')));
    await mkdir(path.join(this.workDir, 'logs'), { recursive: true });
    this.history = createWriteStream(path.join(this.workDir, 'history.jsonl'));
    let convergenceMs = 0;
    let converged = false;
    let finalKeys = { live: 0, deleted: 0, neverWritten: 0 };
    let dataDirs: string[] = [];
    let scheduleReport: Record<string, unknown> | undefined;
    try {
      await this.prepareNemeses();
      this.cluster = await this.start();
      dataDirs = [...this.cluster.registries, ...this.cluster.nodes].map((p) => p.dataDir);
      this.t0 = Date.now();
      const loadEnd = this.t0 + this.o.durationMs;
      this.log(`load and faults for ${Math.round(this.o.durationMs / 1000)} s (seed ${this.o.seed}); logs in ${this.workDir}`);
      const ticker = setInterval(() => this.log(this.progressLine()), 10_000);
      ticker.unref();
      const watchdog = this.watchdog();
      try {
        // allSettled: nothing is torn down while a client or the scheduler still runs.
        const settled = await Promise.allSettled([
          ...Array.from({ length: this.o.clients }, (_, i) => this.client(i, loadEnd)),
          ...(this.o.faults && this.o.schedule ? [this.o.schedule.run(this.scheduleContext(), loadEnd)] : []),
          ...(this.o.faults && this.o.processFaults && !this.o.schedule ? [this.nodeFaults(loadEnd), this.registryFaults(loadEnd)] : []),
          ...(this.o.faults ? this.nemeses.map((n) => n.run(this.nemesisContext(), loadEnd)) : []),
        ]);
        for (const s of settled) if (s.status === 'rejected') throw s.reason;
      } finally {
        clearInterval(ticker);
        this.stopping = true;
        await watchdog;
      }
      this.log(`load over at ${Math.round(this.now() / 1000)} s: ${this.progressLine()}`);
      const healStart = Date.now();
      await this.heal();
      this.healed = true;
      const snapshot = await this.awaitConvergence();
      converged = snapshot.converged;
      convergenceMs = Date.now() - healStart;
      this.log(`${converged ? 'converged' : 'NOT converged'} ${Math.round(convergenceMs / 1000)} s after the load ended`);
      this.judgeReads();
      this.judgeRealTimeOrder();
      finalKeys = await this.checkFinalState(snapshot);
      await this.checkTmpDirs();
      await this.checkReady();
      if (this.o.schedule?.after) scheduleReport = { name: this.o.schedule.name, ...(await this.o.schedule.after(this.scheduleContext())) };
    } catch (err) {
      this.violate({ kind: 'run-failed', detail: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    } finally {
      const wasUp = this.healed ? [...(this.cluster?.registries ?? []), ...(this.cluster?.nodes ?? [])].filter((p) => p.running) : [];
      await this.cluster?.stop().catch((err: unknown) => this.notes.push(`stopping the cluster failed: ${String(err)}`));
      for (const p of wasUp) this.checkCleanExit(p, await p.waitExit(), 'final stop');
      await this.lab?.destroy();
      const streams = [...(this.history ? [this.history] : []), ...this.logStreams];
      await Promise.all(streams.map((s) => new Promise<void>((r) => s.end(() => r()))));
    }
    const report: ChaosReport = {
      seed: this.o.seed,
      durationMs: this.o.durationMs,
      clients: this.o.clients,
      keys: this.o.keys,
      startedAt,
      wallMs: Date.now() - started,
      convergenceMs,
      converged,
      ops: this.ops,
      faults: countBy(this.faultLog.map((f) => f.kind)),
      faultLog: this.faultLog,
      violations: this.violations,
      violationCounts: this.violationCounts,
      finalKeys,
      bytesWritten: this.bytesWritten,
      ...(scheduleReport ? { schedule: scheduleReport } : {}),
      workDir: this.workDir,
      dataDirs,
      notes: this.notes,
      nemeses: this.nemeses.map((n) => n.name),
    };
    const failed = Object.keys(this.violationCounts).length > 0;
    await writeFile(path.join(this.workDir, 'report.json'), JSON.stringify(report, null, 2)).catch(() => undefined);
    if (this.o.keepWorkDir !== 'always' && !failed && process.env.KEEP_TEST_DATA !== '1') {
      await rm(this.workDir, { recursive: true, force: true });
    }
    return report;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Cluster

  /**
   * Registries, then nodes, one at a time: on a busy machine a node can take many seconds to boot, and six processes
   * booting at once may exceed the test support's 20 s start timeout.
   */
  private async start(): Promise<ChaosCluster> {
    const registryEnv: Env = { NODE_TTL_MS: '1500', NODE_DEAD_MS: '3600000', LOG_LEVEL: this.o.logLevel, MAX_CLOCK_SKEW_MS: String(this.o.registryMaxClockSkewMs) };
    const nodeEnv: Env = {
      HEARTBEAT_INTERVAL_MS: '200',
      SYNC_INTERVAL_MS: String(this.o.syncIntervalMs),
      REPLICATION_FACTOR: String(N),
      WRITE_QUORUM: String(W),
      READ_QUORUM: String(R),
      PARTITION_BITS: String(PARTITION_BITS),
      LOG_LEVEL: this.o.logLevel,
    };
    const token = newClusterToken();
    const cluster: ChaosCluster = { token, registries: [], nodes: [], stop: () => stopAndRemove([...cluster.registries, ...cluster.nodes]) };
    this.cluster = cluster; // so that a failed start still stops what runs
    for (let i = 1; i <= 2; i++) {
      const registry = await withRetries(3, () => startRegistry({ token, name: `registry-${i}`, env: registryEnv, host: this.lab?.gateway }));
      this.tapLogs(registry);
      cluster.registries.push(registry);
    }
    for (let i = 1; i <= 4; i++) {
      const host = this.lab ? await this.lab.addHost() : undefined;
      const node = await withRetries(3, () => startNode({ token, registries: cluster.registries, name: `node-${i}`, env: nodeEnv, host: host?.ip, wrap: host?.wrap }));
      if (host) this.hosts.set(node, host);
      this.tapLogs(node);
      cluster.nodes.push(node);
    }
    await this.awaitMembership(120_000);
    for (const p of [...cluster.registries, ...cluster.nodes]) {
      this.record({ kind: 'process', name: p.name, url: p.url, id: this.nodeIds.get(p), dataDir: p.dataDir });
    }
    this.log(`cluster up: ${cluster.registries.map((r) => `${r.name} ${r.url}`).join(', ')}; ${cluster.nodes.map((n) => `${n.name} ${n.url} (${this.nodeIds.get(n)})`).join(', ')}`);
    return cluster;
  }

  /** Appends every line a process prints to workDir/logs/<name>.log (the helper itself keeps only the last 200). */
  private tapLogs(proc: ShoalProcess): void {
    const out = createWriteStream(path.join(this.workDir, 'logs', `${proc.name}.log`), { flags: 'a' });
    this.logStreams.push(out);
    out.write(`${proc.logs()}\n`);
    // ShoalProcess keeps its output through a private `record(line)`; wrap it so that no line is lost.
    const target = proc as unknown as { record?: (line: string) => void };
    if (typeof target.record !== 'function') {
      this.notes.push(`${proc.name}: cannot tap the process output; only the last 200 lines are kept`);
      return;
    }
    const record = target.record.bind(proc);
    target.record = (line: string) => {
      record(line);
      out.write(`${line}\n`);
    };
  }

  private get nodes(): ShoalProcess[] {
    return this.cluster!.nodes;
  }

  private get registries(): ShoalProcess[] {
    return this.cluster!.registries;
  }

  private async nodeInfo(node: ShoalProcess): Promise<NodeInfoDto> {
    const res = await requestJson<NodeInfoDto>(`${node.url}/v1/node`, { timeoutMs: 5000 });
    if (res.status !== 200) throw new Error(`${node.name}: GET /v1/node answered ${res.status}`);
    return res.body;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Clients

  private async client(index: number, until: number): Promise<void> {
    const rng = new Rng(substream(this.o.seed, `client-${index}`));
    for (let i = 0; Date.now() < until; i++) {
      const key = rng.pick(this.keys);
      const node = rng.pick(this.nodes);
      const roll = rng.next();
      if (roll < 0.45) await this.put(rng, index, i, node, key);
      else if (roll < 0.6) await this.delete(node, key);
      else await this.get(node, key);
      await sleep(rng.int(0, 25));
    }
  }

  private valueSize(rng: Rng): number {
    if (rng.chance(this.o.bigWriteChance)) return 2 * MiB + rng.int(0, 64 * KiB);
    const r = rng.next();
    if (r < 0.08) return 0;
    if (r < 0.4) return rng.int(1, 16 * KiB); // inline in the metadata store
    if (r < 0.8) return rng.int(16 * KiB + 1, 64 * KiB);
    return rng.int(64 * KiB, 200 * KiB);
  }

  private async put(rng: Rng, client: number, i: number, node: ShoalProcess, key: string): Promise<void> {
    const size = this.valueSize(rng);
    const data = rng.bytes(size, `chaos seed=${this.o.seed} client=${client} op=${i} key=${key}\n`);
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
          this.violate({ kind: 'under-replicated-ack', key, node: node.name, at: op.start - this.t0, detail: `PUT answered 201 with replicas ${String(info.replicas)} (W is ${W})` });
        }
      } else if (body) {
        outcome = 'ack-wrong-sha';
        this.violate({ kind: 'corrupt-ack', key, node: node.name, at: op.start - this.t0, detail: `PUT answered 201 with sha256 ${(body as { sha256?: string }).sha256}; the body sent hashes to ${sha}` });
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
      const at = start - this.t0;
      if (etag !== sha) {
        this.violate({ kind: 'corrupt-read', key, node: node.name, at, detail: `200 with ${ans.body.length} bytes hashing to ${sha}, ETag ${etag}` });
      } else if (!(this.writes.get(key) ?? []).some((w) => w.value === sha)) {
        this.violate({ kind: 'invented-bytes', key, node: node.name, at, detail: `200 with ${ans.body.length} bytes (sha256 ${sha}) that no client wrote to this key` });
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
    this.count('get', outcome);
    this.record({ kind: 'get', key, node: node.name, start: start - this.t0, end: ans.end - this.t0, outcome, status: ans.status, sha, error: ans.error });
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
    this.count(op.kind, outcome);
    this.record({ kind: op.kind, id: op.id, key, node: node.name, start: op.start - this.t0, end: ans.end - this.t0, outcome, cls: op.cls, sha: op.value, ...extra, error: ans.error });
  }

  /** 500 is "unexpected error": never an acceptable answer, whatever the faults (502 and 503 are). */
  private checkServerError(method: string, node: ShoalProcess, key: string, start: number, ans: Answer): void {
    if (ans.status === undefined || ans.status < 500 || ans.status === 502 || ans.status === 503) return;
    const problem = parseJson(ans.body) as { code?: string; detail?: string } | undefined;
    this.violate({ kind: 'server-error', key, node: node.name, at: start - this.t0, detail: `${method} answered ${ans.status} ${problem?.code ?? ''} ${problem?.detail ?? ''}`.trim() });
  }

  /** SIGTERM must end a process cleanly (DESIGN §5: stopped gracefully). */
  private checkCleanExit(proc: ShoalProcess, exit: { code: number | null; signal: NodeJS.Signals | null }, when: string): void {
    // Nest closes the app on SIGTERM, then raises the signal again: ending by SIGTERM (or code 0) is clean; an exit
    // code from an uncaught error, or the SIGKILL that follows a stop hung for 5 s, is not.
    if (exit.code === 0 || exit.signal === 'SIGTERM') return;
    this.violate({
      kind: 'unclean-shutdown',
      node: proc.name,
      at: this.t0 ? this.now() : undefined,
      detail: `${when}: SIGTERM ended ${proc.name} with ${exit.signal ?? `exit code ${exit.code}`}; last lines:\n${tail(proc.logs(), 15)}`,
    });
  }

  private count(kind: string, outcome: string): void {
    const byOutcome = (this.ops[kind] ??= {});
    byOutcome[outcome] = (byOutcome[outcome] ?? 0) + 1;
  }

  private record(entry: Record<string, unknown>): void {
    this.history?.write(`${JSON.stringify(entry)}\n`);
  }

  /** One client request with a deadline; never throws. Only 127.0.0.1 (every URL comes from a ShoalProcess). */
  private async call(method: 'PUT' | 'GET' | 'DELETE', node: ShoalProcess, key: string, body?: Buffer): Promise<Answer> {
    const url = `${node.url}/v1/files/${key.split('/').map(encodeURIComponent).join('/')}`;
    const hostname = new URL(url).hostname;
    if (hostname !== '127.0.0.1' && ![...this.hosts.values()].some((h) => h.ip === hostname)) throw new Error(`the chaos suite only calls 127.0.0.1 and its own namespaces, not ${url}`);
    try {
      const res = await fetch(url, {
        method,
        body,
        headers: body ? { 'content-type': 'application/octet-stream' } : undefined,
        signal: AbortSignal.timeout(this.o.requestTimeoutMs),
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

  // -------------------------------------------------------------------------------------------------------------
  // Faults

  /** Kills, pauses (or gracefully restarts) one node at a time; the next fault waits until the last victim is back and ready. */
  private async nodeFaults(until: number): Promise<void> {
    const rng = new Rng(substream(this.o.seed, 'node-faults'));
    await sleep(rng.int(1000, 3000));
    for (let n = 0; Date.now() < until; n++) {
      const free = this.nodes.filter((n) => !this.faulty.has(n));
      const node = rng.pick(free.length > 0 ? free : this.nodes);
      // The first faults are one of each kind, so that even a short run has all of them.
      const kinds: FaultRecord['kind'][] = ['kill-node', 'pause-node', ...(this.o.gracefulRestarts ? (['restart-node'] as const) : [])];
      const kind: FaultRecord['kind'] = n < kinds.length ? kinds[n] : rng.pick(kinds);
      // Mostly around NODE_TTL_MS (1.5 s): sometimes still "up" for the others, sometimes "down". One pause in ten
      // outlasts the peers' 15 s idle timeout, so that uploads stuck on the paused owner's leg give up.
      const held = kind === 'pause-node' && rng.chance(0.1) ? rng.int(10_000, 20_000) : rng.int(500, 6000);
      const at = this.now();
      this.faulty.add(node);
      try {
        if (kind === 'kill-node') {
          node.kill('SIGKILL');
          await node.waitExit();
          await sleep(held);
          await this.restart(node);
        } else if (kind === 'restart-node') {
          this.checkCleanExit(node, await node.stop(), 'restart-node'); // SIGTERM: a stop, the node keeps its place
          await sleep(held);
          await this.restart(node);
        } else {
          node.kill('SIGSTOP');
          this.paused.add(node);
          await sleep(held);
          node.kill('SIGCONT');
          this.paused.delete(node);
        }
        await this.awaitHealthy(node);
      } catch (err) {
        this.violate({ kind: 'fault-recovery-failed', node: node.name, at, detail: `${kind}: ${err instanceof Error ? err.message : String(err)}` });
        await this.revive(node);
      } finally {
        this.faulty.delete(node);
      }
      this.faultLog.push({ kind, target: node.name, at, heldMs: held, recoveredMs: this.now() - at });
      await sleep(rng.int(1000, 4000));
    }
  }

  private scheduleContext(): ScheduleContext {
    return {
      nodes: this.nodes,
      registries: this.registries,
      token: this.cluster!.token,
      nodeId: (node) => this.nodeIds.get(node),
      now: () => this.now(),
      bytesWritten: () => this.bytesWritten,
      fault: async (kind, target, heldMs, act) => {
        const at = this.now();
        this.faulty.add(target);
        try {
          await act();
          if (this.nodes.includes(target)) await this.awaitHealthy(target);
        } catch (err) {
          this.violate({ kind: 'fault-recovery-failed', node: target.name, at, detail: `${kind}: ${err instanceof Error ? err.message : String(err)}` });
          await this.revive(target);
        } finally {
          this.faulty.delete(target);
        }
        this.faultLog.push({ kind, target: target.name, at, heldMs, recoveredMs: this.now() - at });
      },
      restart: (proc) => this.restart(proc),
      checkCleanExit: (proc, exit, when) => this.checkCleanExit(proc, exit, when),
      violate: (v) => this.violate(v),
      log: (line) => this.log(line),
    };
  }

  /** SIGKILLs and restarts one registry at a time. */
  private async registryFaults(until: number): Promise<void> {
    const rng = new Rng(substream(this.o.seed, 'registry-faults'));
    await sleep(rng.int(3000, 8000));
    while (Date.now() < until) {
      const registry = rng.pick(this.registries);
      const held = rng.int(300, 3000);
      const at = this.now();
      this.faulty.add(registry);
      try {
        registry.kill('SIGKILL');
        await registry.waitExit();
        await sleep(held);
        await this.restart(registry);
      } catch (err) {
        this.violate({ kind: 'fault-recovery-failed', node: registry.name, at, detail: `restart-registry: ${err instanceof Error ? err.message : String(err)}` });
        await this.revive(registry);
      } finally {
        this.faulty.delete(registry);
      }
      this.faultLog.push({ kind: 'restart-registry', target: registry.name, at, heldMs: held, recoveredMs: this.now() - at });
      await sleep(rng.int(4000, 12_000));
    }
  }

  /**
   * Restarts a process on its port and data dir. The test support gives a start 20 s; on a loaded machine a boot can
   * take longer, so a timed-out start is noted and tried again (3 attempts) rather than called a violation.
   */
  private async restart(proc: ShoalProcess, env?: Record<string, string | undefined>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await proc.restart(env);
        return;
      } catch (err) {
        const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
        if (attempt >= 3 || !/did not answer GET \/health\/live/.test(message)) throw err;
        this.notes.push(`${proc.name}: restart attempt ${attempt} at ${Math.round(this.now() / 1000)} s: ${message}; trying again`);
      }
    }
  }

  /** Back in service: every registry lists the node up, and it is ready (60 s at most). */
  private async awaitHealthy(node: ShoalProcess, timeoutMs = 60_000): Promise<void> {
    const id = this.nodeIds.get(node);
    await pollFor(timeoutMs, async () => {
      const ready = await requestJson(`${node.url}/health/ready`, { timeoutMs: 2000 });
      if (ready.status !== 200) return `${node.name} not ready (${ready.status})`;
      const registries = this.registries.filter((r) => r.running && !this.faulty.has(r));
      const lists = await Promise.all(registries.map((r) => requestJson<MembershipDto>(`${r.url}/v1/nodes`, { timeoutMs: 2000 })));
      const missing = registries.filter((_, i) => lists[i].status !== 200 || !lists[i].body.nodes.some((n) => n.id === id && n.status === 'up'));
      return missing.length ? `${node.name} not up in ${missing.map((r) => r.name).join(', ')}` : undefined;
    });
  }

  /** Makes sure a process runs and is not paused (after a failed fault, and when healing). */
  private async revive(proc: ShoalProcess): Promise<void> {
    try {
      if (proc.running) proc.kill('SIGCONT');
      else await this.restart(proc);
    } catch (err) {
      this.violate({ kind: 'restart-failed', node: proc.name, at: this.now(), detail: err instanceof Error ? err.message : String(err) });
    }
    this.paused.delete(proc);
  }

  /** A process that exits without the scheduler having killed it is a crash: recorded, then restarted. */
  private async watchdog(): Promise<void> {
    const reported = new Set<ShoalProcess>();
    while (!this.stopping) {
      for (const p of [...this.registries, ...this.nodes]) {
        if (p.running || this.faulty.has(p) || reported.has(p)) continue;
        const exit = await p.waitExit();
        reported.add(p); // reported once; if it cannot be restarted the heal phase tries again
        this.violate({ kind: 'unexpected-exit', node: p.name, at: this.now(), detail: `${p.name} exited on its own (${exit.signal ?? `code ${exit.code}`}); last lines:\n${tail(p.logs(), 30)}` });
        this.faulty.add(p);
        await this.revive(p);
        this.faulty.delete(p);
        if (p.running) reported.delete(p);
      }
      await sleep(500);
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // After the load: heal, converge, check

  /** Every registry lists every node up, and every node is ready and sees every other one up. */
  private async awaitMembership(timeoutMs: number): Promise<void> {
    await pollFor(timeoutMs, async () => {
      for (const node of this.nodes) {
        if (!this.nodeIds.has(node)) this.nodeIds.set(node, (await this.nodeInfo(node)).id);
      }
      for (const registry of this.registries) {
        const { status, body } = await requestJson<MembershipDto>(`${registry.url}/v1/nodes`, { timeoutMs: 3000 });
        if (status !== 200) return `${registry.name}: GET /v1/nodes answered ${status}`;
        const notUp = this.nodes.filter((n) => !body.nodes.some((m) => m.id === this.nodeIds.get(n) && m.status === 'up'));
        if (notUp.length) return `${registry.name} does not list ${notUp.map((n) => n.name).join(', ')} as up`;
      }
      for (const node of this.nodes) {
        const info = await this.nodeInfo(node);
        const up = info.members.filter((m) => m.status === 'up').length;
        if (up !== this.nodes.length || info.state !== 'ready') return `${node.name}: ${info.state}, sees ${up} of ${this.nodes.length} nodes up`;
        const ready = await requestJson(`${node.url}/health/ready`, { timeoutMs: 3000 });
        if (ready.status !== 200) return `${node.name}: /health/ready answered ${ready.status}`;
      }
      return undefined;
    });
  }

  private async heal(): Promise<void> {
    for (const n of this.nemeses) {
      await n.heal(this.nemesisContext()).catch((err: unknown) => this.violate({ kind: 'heal-failed', detail: `${n.name}: ${String(err)}` }));
    }
    for (const p of [...this.registries, ...this.nodes]) await this.revive(p);
    await this.awaitMembership(90_000);
    // A few anti-entropy rounds before looking.
    await sleep(3 * this.o.syncIntervalMs);
  }

  /** Polls until every owner holds the same version of every key (and non-owners hold no live copy), twice in a row. */
  private async awaitConvergence(): Promise<Snapshot> {
    const deadline = Date.now() + this.o.convergenceTimeoutMs;
    let previous: Snapshot | undefined;
    let snap: Snapshot | undefined;
    while (Date.now() < deadline) {
      try {
        snap = await this.snapshot();
        if (snap.converged && previous?.converged && previous.fingerprint === snap.fingerprint) return snap;
      } catch (err) {
        this.notes.push(`snapshot failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      previous = snap;
      await sleep(Math.max(1000, this.o.syncIntervalMs));
    }
    snap ??= await this.snapshot();
    for (const problem of snap.problems) this.violate({ kind: problem.kind, key: problem.key, detail: `not converged after ${this.o.convergenceTimeoutMs} ms: ${problem.detail}` });
    if (snap.problems.length === 0) this.violate({ kind: 'not-converged', detail: 'the replica state kept changing until the deadline' });
    return snap;
  }

  private async snapshot(): Promise<Snapshot> {
    const ids = this.nodes.map((n) => this.nodeIds.get(n)!);
    const byId = new Map(this.nodes.map((n) => [this.nodeIds.get(n)!, n]));
    const live = new Map<string, Map<string, string>>(); // node id -> key -> "version sha"
    const held = new Map<string, Map<string, StoredEntry | null>>(); // node id -> key -> entry (tombstones too)
    for (const node of this.nodes) {
      const id = this.nodeIds.get(node)!;
      live.set(id, new Map((await listLocal(node)).map((i) => [i.key, `${i.version} ${i.sha256}`])));
      held.set(id, await this.versions(node, this.keys));
    }
    const problems: Snapshot['problems'] = [];
    const state = new Map<string, StoredEntry | null>();
    const ownersByKey = new Map<string, string[]>();
    const unknown = [...new Set([...live.values()].flatMap((m) => [...m.keys()]))].filter((k) => !this.keys.includes(k));
    for (const k of unknown) problems.push({ kind: 'invented-key', key: k, detail: `listed by some node, but no client wrote it` });
    for (const key of this.keys) {
      const owners = ownersOf(partitionOf(key, PARTITION_BITS), ids.map((id) => ({ id })), N).map((o) => o.id);
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
  private async versions(node: ShoalProcess, keys: string[]): Promise<Map<string, StoredEntry | null>> {
    const res = await requestJson<{ entries: (StoredEntry | null)[] }>(`${node.url}/internal/versions`, {
      json: { keys },
      token: this.cluster!.token,
      timeoutMs: 5000,
    });
    if (res.status !== 200 && res.status !== 201) throw new Error(`${node.name}: POST /internal/versions answered ${res.status}`);
    return new Map(keys.map((k, i) => [k, res.body.entries[i]]));
  }

  /** Every key, through every node: the value of its last acknowledged write, or absent after a delete. */
  private async checkFinalState(snap: Snapshot): Promise<ChaosReport['finalKeys']> {
    const result = { live: 0, deleted: 0, neverWritten: 0 };
    for (const key of this.keys) {
      const ops = (this.writes.get(key) ?? []).filter((o) => !(o.kind === 'delete' && o.cls === 'refused'));
      const seen = new Map<string, string | null>(); // node name -> observed
      for (const node of this.nodes) {
        const ans = await this.call('GET', node, key);
        let observed: string | null;
        if (ans.status === 200 && !ans.cut && ans.body) {
          observed = createHash('sha256').update(ans.body).digest('hex');
          const etag = (ans.headers?.get('etag') ?? '').replace(/"/g, '');
          if (etag !== observed) this.violate({ kind: 'corrupt-read', key, node: node.name, detail: `final read: bytes hash to ${observed}, ETag ${etag}` });
        } else if (ans.status === 404) {
          observed = null;
        } else {
          this.violate({ kind: 'final-read-failed', key, node: node.name, detail: `GET answered ${ans.status ?? ans.error}${ans.cut ? ' (cut)' : ''}` });
          continue;
        }
        seen.set(node.name, observed);
        this.record({ kind: 'final-read', key, node: node.name, observed });
        const verdict = judge(ops, observed, Infinity, Infinity);
        if (!verdict.ok) {
          const latest = verdict.latestAcked.map((o) => `${o.kind}#${o.id} ${o.value ?? ''} [${o.start - this.t0}, ${o.end - this.t0}] ms`).join('; ');
          this.violate({
            kind: verdict.kind!,
            key,
            node: node.name,
            detail: `final read gave ${observed ?? '404'}; allowed: ${verdict.allowed.map((v) => v ?? '404').join(', ')}; last acknowledged: ${latest || 'none'}`,
          });
        }
      }
      const values = new Set(seen.values());
      if (values.size > 1) {
        this.violate({ kind: 'nodes-disagree', key, detail: [...seen.entries()].map(([n, v]) => `${n}=${v ?? '404'}`).join(', ') });
      }
      const stored = snap.state.get(key);
      this.record({ kind: 'final-state', key, owners: snap.owners.get(key), entry: stored ?? null });
      const storedValue = stored && !stored.deleted ? stored.sha256 : null;
      if (snap.converged && values.size === 1 && [...values][0] !== storedValue) {
        this.violate({ kind: 'read-disagrees-with-replicas', key, detail: `reads give ${[...values][0] ?? '404'}, the owners hold ${describe(stored ?? null)}` });
      }
      if (storedValue) result.live++;
      else if (ops.length > 0) result.deleted++;
      else result.neverWritten++;
    }
    return result;
  }

  /** DESIGN §3 Versions: a write acknowledged after another started later has the higher version (history.ts). */
  private judgeRealTimeOrder(): void {
    for (const [key, ops] of this.writes) {
      for (const { earlier, later } of realTimeOrderViolations(ops)) {
        this.violate({
          kind: 'real-time-order',
          key,
          at: later.start - this.t0,
          detail: `put#${later.id} [${later.start - this.t0}, ${later.end - this.t0}] ms got version ${later.version}, not above ${earlier.version} of put#${earlier.id} acknowledged at ${earlier.end - this.t0} ms, before it started`,
        });
      }
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // Nemeses (test/chaos/nemeses/)

  /** Builds the nemeses asked for; partitions need network namespaces, which are set up here when allowed. */
  private async prepareNemeses(): Promise<void> {
    const wanted = this.o.faults ? this.o.nemeses : [];
    if (wanted.includes('partition')) {
      if (await NetLab.available()) {
        this.lab = await NetLab.create();
        this.nemeses.push(new PartitionNemesis());
      } else {
        this.notes.push('partition nemesis skipped: network namespaces are refused here (not root, or no CAP_NET_ADMIN); the nodes run on 127.0.0.1');
      }
    }
    if (wanted.includes('clock')) {
      if (ClockNemesis.available()) this.nemeses.push(new ClockNemesis());
      else this.notes.push('clock nemesis skipped: libfaketime is not installed (Debian package faketime; .ci/run installs it)');
    }
  }

  private nemesisContext(): NemesisContext {
    return {
      seed: this.o.seed,
      nodes: this.nodes,
      registries: this.registries,
      lab: this.lab,
      hostOf: (node) => this.hosts.get(node),
      now: () => this.now(),
      faulty: this.faulty,
      restart: (proc, env) => this.restart(proc, env),
      awaitHealthy: (node) => this.awaitHealthy(node),
      fault: (kind, target, at, heldMs) => this.faultLog.push({ kind, target, at, heldMs, recoveredMs: this.now() - at }),
      violate: (v) => this.violate(v),
      note: (line) => this.notes.push(line),
      log: (line) => this.log(line),
    };
  }

  /** Reads during the run, judged against the whole history: never older than a write acknowledged before them. */
  private judgeReads(): void {
    for (const read of this.reads) {
      const verdict = judge(this.writes.get(read.key) ?? [], read.observed, read.start, read.end);
      if (verdict.ok || verdict.kind === 'invented-bytes') continue; // invented bytes were reported when read
      const latest = latestAcknowledged(this.writes.get(read.key) ?? [], read.start);
      this.violate({
        kind: verdict.kind!,
        key: read.key,
        node: read.node,
        at: read.start - this.t0,
        detail: `read [${read.start - this.t0}, ${read.end - this.t0}] ms gave ${read.observed ?? '404'}; acknowledged before it: ${latest.map((o) => `${o.kind}#${o.id} ${o.value ?? ''} [${o.start - this.t0}, ${o.end - this.t0}]`).join('; ')}`,
      });
    }
  }

  private async checkTmpDirs(): Promise<void> {
    for (const node of this.nodes) {
      const dir = path.join(node.dataDir, 'tmp');
      const left = await readdir(dir).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? [] : [`(unreadable: ${err.code})`]));
      if (left.length > 0) this.violate({ kind: 'tmp-leftovers', node: node.name, detail: `${left.length} files in ${dir}: ${left.slice(0, 5).join(', ')}` });
    }
  }

  private async checkReady(): Promise<void> {
    for (const p of [...this.registries, ...this.nodes]) {
      const res = await requestJson(`${p.url}/health/ready`, { timeoutMs: 5000 }).catch((err: unknown) => ({ status: 0, body: String(err) }));
      if (res.status !== 200) this.violate({ kind: 'not-ready', node: p.name, detail: `/health/ready answered ${res.status} ${JSON.stringify(res.body)}` });
    }
  }

  // -------------------------------------------------------------------------------------------------------------

  private violate(v: Violation): void {
    const n = (this.violationCounts[v.kind] = (this.violationCounts[v.kind] ?? 0) + 1);
    if (n <= MAX_VIOLATIONS_PER_KIND) this.violations.push(v);
    if (n <= 3) this.log(`VIOLATION ${v.kind}${v.key ? ` ${v.key}` : ''}${v.node ? ` via ${v.node}` : ''}${v.at !== undefined ? ` at ${v.at} ms` : ''}: ${v.detail.split('\n')[0]}`);
  }

  private progressLine(): string {
    const ops = Object.entries(this.ops)
      .map(([kind, outcomes]) => `${kind} ${Object.values(outcomes).reduce((a, b) => a + b, 0)} (ack/ok ${outcomes.ack ?? outcomes.ok ?? 0})`)
      .join(', ');
    const violations = Object.values(this.violationCounts).reduce((a, b) => a + b, 0);
    return `t=${Math.round(this.now() / 1000)} s: ${ops}; faults ${this.faultLog.length}; violations ${violations}`;
  }
}

interface StoredEntry {
  key: string;
  version: string;
  sha256: string;
  size: number;
  deleted: boolean;
}

interface Snapshot {
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

/** Every page of a node's own live copies under the chaos prefix. */
async function listLocal(node: ShoalProcess): Promise<{ key: string; version: string; sha256: string }[]> {
  const items: { key: string; version: string; sha256: string }[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 1000; page++) {
    const q = new URLSearchParams({ prefix: KEY_PREFIX, limit: '7', local: 'true' }); // small pages: paging is exercised
    if (cursor) q.set('cursor', cursor);
    const res = await requestJson<FileListDto>(`${node.url}/v1/files?${q}`, { timeoutMs: 5000 });
    if (res.status !== 200) throw new Error(`${node.name}: GET /v1/files?${q} answered ${res.status}`);
    items.push(...res.body.items);
    cursor = res.body.nextCursor;
    if (!cursor) return items;
  }
  throw new Error(`${node.name}: the local listing did not end within 1000 pages`);
}

/** Retries `check` (which returns a reason while not done) until it returns undefined; throws with the last reason. */
async function pollFor(timeoutMs: number, check: () => Promise<string | undefined>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let reason: string | undefined = 'not checked';
  while (Date.now() < deadline) {
    try {
      reason = await check();
      if (reason === undefined) return;
    } catch (err) {
      reason = err instanceof Error ? err.message : String(err);
    }
    await sleep(250);
  }
  throw new Error(`gave up after ${timeoutMs} ms: ${reason}`);
}

interface ChaosCluster {
  token: string;
  registries: ShoalProcess[];
  nodes: ShoalProcess[];
  stop(): Promise<void>;
}

async function withRetries<T>(attempts: number, fn: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
    }
  }
}

function classifyError(err: unknown): 'timeout' | 'conn-refused' | 'conn-error' {
  const e = err as { name?: string; cause?: { code?: string; name?: string } };
  if (e.name === 'TimeoutError' || e.cause?.name === 'TimeoutError') return 'timeout';
  if (e.cause?.code === 'ECONNREFUSED') return 'conn-refused';
  return 'conn-error';
}

function parseJson(body: Buffer | undefined): unknown {
  if (!body || body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

function countBy(items: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) out[i] = (out[i] ?? 0) + 1;
  return out;
}

function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines).join('\n');
}

/** A human summary: operations by kind and outcome, faults, convergence, violations. */
export function formatSummary(r: ChaosReport): string {
  const lines: string[] = [];
  const total = Object.values(r.violationCounts).reduce((a, b) => a + b, 0);
  lines.push(`Shoal chaos run — seed ${r.seed}, ${fmtS(r.durationMs)} of load and faults, ${r.clients} clients on ${r.keys} keys, 4 nodes (N=${N} W=${W} R=${R}), 2 registries${r.nemeses?.length ? `, nemeses: ${r.nemeses.join(', ')}` : ''}`);
  lines.push(`started ${r.startedAt}, wall time ${fmtS(r.wallMs)}, ${(r.bytesWritten / MiB).toFixed(1)} MiB acknowledged`);
  lines.push('operations:');
  for (const [kind, outcomes] of Object.entries(r.ops).sort()) {
    const sum = Object.values(outcomes).reduce((a, b) => a + b, 0);
    const parts = Object.entries(outcomes).sort((a, b) => b[1] - a[1]).map(([o, n]) => `${o} ${n}`);
    lines.push(`  ${kind.padEnd(7)}${String(sum).padStart(7)}   ${parts.join(', ')}`);
  }
  const faults = Object.entries(r.faults).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
  lines.push(`faults: ${faults}`);
  const recovered = r.faultLog.filter((f) => f.kind !== 'restart-registry').map((f) => f.recoveredMs);
  if (recovered.length) lines.push(`  node back in service after: median ${fmtS(median(recovered))}, max ${fmtS(Math.max(...recovered))}`);
  lines.push(`convergence: ${r.converged ? 'converged' : 'NOT converged'} ${fmtS(r.convergenceMs)} after the load ended`);
  lines.push(`final state: ${r.finalKeys.live} keys live, ${r.finalKeys.deleted} deleted, ${r.finalKeys.neverWritten} never written`);
  lines.push(`violations: ${total}${total ? ` (${Object.entries(r.violationCounts).map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}`);
  for (const v of r.violations.slice(0, 20)) {
    lines.push(`  - ${v.kind}${v.key ? ` ${v.key}` : ''}${v.node ? ` via ${v.node}` : ''}${v.at !== undefined ? ` at ${v.at} ms` : ''}: ${v.detail.split('\n')[0]}`);
  }
  for (const note of r.notes) lines.push(`note: ${note}`);
  if (total > 0) lines.push(`logs, history.jsonl and report.json: ${r.workDir}`);
  return lines.join('\n');
}

function fmtS(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
