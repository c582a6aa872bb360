import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openTestNet, type TestNet } from '../support/test-net.js';
import { sleep } from '../support/poll-until.js';
import { ChaosCluster } from './chaos-cluster.js';
import { type ChaosOptions, type ChaosReport, KEY_PREFIX, type ScheduleContext } from './chaos-types.js';
import { Checker } from './checker.js';
import { ClockNemesis } from './nemeses/clock.nemesis.js';
import type { Nemesis, NemesisContext } from './nemeses/nemesis.js';
import { PartitionNemesis } from './nemeses/partition.nemesis.js';
import { ProcessNemesis } from './nemeses/process.nemesis.js';
import { substream } from './prng.js';
import { countBy, RunLog } from './report.js';
import { Workload } from './workload.js';

export type { ChaosOptions, ChaosReport, FaultRecord, FaultSchedule, NemesisName, ScheduleContext, Violation } from './chaos-types.js';
export { formatSummary } from './report.js';

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
 *
 * The parts: workload.ts (the clients), nemeses/ (the faults: process, partition, clock; or a {@link FaultSchedule}
 * such as rolling-restart.ts), chaos-cluster.ts (the cluster and its upkeep), checker.ts (the verdicts) and
 * report.ts (what is recorded, and the summary).
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  return new ChaosRun(options).execute();
}

type Settings = Required<Omit<ChaosOptions, 'workDir' | 'progress' | 'schedule'>> & Pick<ChaosOptions, 'workDir' | 'progress' | 'schedule'>;

class ChaosRun {
  private readonly o: Settings;
  private cluster?: ChaosCluster;
  private net?: TestNet;
  /** which mechanism partitions the run, and why (in the report and the output) */
  private network = 'none (no partition nemesis)';
  private nemeses: Nemesis[] = [];
  private t0 = 0;
  private readonly keys: string[];
  private rec = new RunLog(() => undefined);
  private workload?: Workload;
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
      net: 'auto',
      ...options,
    };
    this.keys = Array.from({ length: this.o.keys }, (_, i) => `${KEY_PREFIX}${i % 2 ? 'dir/' : ''}k${String(i).padStart(2, '0')}`);
  }

  private now(): number {
    return Date.now() - this.t0;
  }

  async execute(): Promise<ChaosReport> {
    const started = Date.now();
    const startedAt = new Date(started).toISOString();
    const workDir = this.o.workDir ?? (await mkdtemp(path.join(os.tmpdir(), 'shoal-chaos-')));
    await mkdir(path.join(workDir, 'logs'), { recursive: true });
    const rec = (this.rec = new RunLog((line) => this.o.progress?.(line), createWriteStream(path.join(workDir, 'history.jsonl'))));
    let convergenceMs = 0;
    let converged = false;
    let finalKeys = { live: 0, deleted: 0, neverWritten: 0 };
    let dataDirs: string[] = [];
    let scheduleReport: Record<string, unknown> | undefined;
    try {
      await this.prepareNemeses();
      const settings = { logLevel: this.o.logLevel, registryMaxClockSkewMs: this.o.registryMaxClockSkewMs, syncIntervalMs: this.o.syncIntervalMs, logDir: path.join(workDir, 'logs'), net: this.net, t0: () => this.t0 };
      const cluster = await ChaosCluster.start(settings, rec, (c) => (this.cluster = c)); // a failed start still stops what runs
      for (const p of cluster.all) rec.record({ kind: 'process', name: p.name, url: p.url, id: cluster.nodeIds.get(p), dataDir: p.dataDir });
      rec.log(`cluster up: ${cluster.registries.map((r) => `${r.name} ${r.url}`).join(', ')}; ${cluster.nodes.map((n) => `${n.name} ${n.url} (${cluster.nodeIds.get(n)})`).join(', ')}`);
      dataDirs = cluster.all.map((p) => p.dataDir);
      const workload = (this.workload = new Workload(
        { seed: this.o.seed, keys: this.keys, nodes: () => cluster.nodes, t0: () => this.t0, allowedHosts: () => this.net?.hosts() ?? [], bigWriteChance: this.o.bigWriteChance, requestTimeoutMs: this.o.requestTimeoutMs },
        rec,
      ));
      this.t0 = Date.now();
      const loadEnd = this.t0 + this.o.durationMs;
      rec.log(`load and faults for ${Math.round(this.o.durationMs / 1000)} s (seed ${this.o.seed}); logs in ${workDir}`);
      const ticker = setInterval(() => rec.log(rec.progressLine(this.now())), 10_000);
      ticker.unref();
      const watchdog = cluster.watchdog(() => this.stopping);
      const own = this.o.faults && this.o.processFaults && !this.o.schedule ? [new ProcessNemesis(this.o.gracefulRestarts)] : [];
      try {
        // allSettled: nothing is torn down while a client or the scheduler still runs.
        const settled = await Promise.allSettled([
          ...Array.from({ length: this.o.clients }, (_, i) => workload.client(i, loadEnd)),
          ...(this.o.faults && this.o.schedule ? [this.o.schedule.run(this.scheduleContext(), loadEnd)] : []),
          ...(this.o.faults ? [...own, ...this.nemeses].map((n) => n.run(this.nemesisContext(), loadEnd)) : []),
        ]);
        for (const s of settled) if (s.status === 'rejected') throw s.reason;
      } finally {
        clearInterval(ticker);
        this.stopping = true;
        await watchdog;
      }
      rec.log(`load over at ${Math.round(this.now() / 1000)} s: ${rec.progressLine(this.now())}`);
      const healStart = Date.now();
      await this.heal();
      this.healed = true;
      const checker = new Checker({ keys: this.keys, convergenceTimeoutMs: this.o.convergenceTimeoutMs, syncIntervalMs: this.o.syncIntervalMs, t0: () => this.t0 }, cluster, workload, rec);
      const snapshot = await checker.awaitConvergence();
      converged = snapshot.converged;
      convergenceMs = Date.now() - healStart;
      rec.log(`${converged ? 'converged' : 'NOT converged'} ${Math.round(convergenceMs / 1000)} s after the load ended`);
      checker.judgeReads();
      checker.judgeRealTimeOrder();
      finalKeys = await checker.checkFinalState(snapshot);
      await checker.checkTmpDirs();
      await checker.checkReady();
      if (this.o.schedule?.after) scheduleReport = { name: this.o.schedule.name, ...(await this.o.schedule.after(this.scheduleContext())) };
    } catch (err) {
      rec.violate({ kind: 'run-failed', detail: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    } finally {
      const wasUp = this.healed ? (this.cluster?.all ?? []).filter((p) => p.running) : [];
      await this.cluster?.stop().catch((err: unknown) => rec.notes.push(`stopping the cluster failed: ${String(err)}`));
      for (const p of wasUp) this.cluster?.checkCleanExit(p, await p.waitExit(), 'final stop');
      const traffic = this.net?.stats();
      if (traffic) rec.notes.push(`fault proxy: ${Object.entries(traffic).map(([k, v]) => `${k} ${v}`).join(', ')}`);
      await this.net?.destroy();
      await rec.close();
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
      ops: rec.ops,
      faults: countBy(rec.faultLog.map((f) => f.kind)),
      faultLog: rec.faultLog,
      violations: rec.violations,
      violationCounts: rec.violationCounts,
      finalKeys,
      bytesWritten: this.workload?.bytesWritten ?? 0,
      ...(scheduleReport ? { schedule: scheduleReport } : {}),
      workDir,
      dataDirs,
      notes: rec.notes,
      nemeses: this.nemeses.map((n) => n.name),
      network: this.network,
    };
    await writeFile(path.join(workDir, 'report.json'), JSON.stringify(report, null, 2)).catch(() => undefined);
    if (this.o.keepWorkDir !== 'always' && !rec.failed && process.env.KEEP_TEST_DATA !== '1') {
      await rm(workDir, { recursive: true, force: true });
    }
    return report;
  }

  /** Builds the nemeses asked for; partitions need network namespaces, which are set up here when allowed. */
  private async prepareNemeses(): Promise<void> {
    const wanted = this.o.faults ? this.o.nemeses : [];
    if (wanted.includes('partition')) {
      // Namespaces where they work, the fault proxy otherwise (or as asked: ChaosOptions.net, CHAOS_NET).
      const { net, why } = await openTestNet(this.o.net, substream(this.o.seed, 'proxy-loss'));
      this.net = net;
      this.network = why;
      this.rec.log(`partitions: ${why}`);
      this.nemeses.push(new PartitionNemesis());
    }
    if (wanted.includes('clock')) {
      if (ClockNemesis.available()) this.nemeses.push(new ClockNemesis());
      else this.rec.notes.push('clock nemesis skipped: libfaketime is not installed (Debian package faketime; .ci/run installs it)');
    }
  }

  private nemesisContext(): NemesisContext {
    const c = this.cluster!;
    return {
      seed: this.o.seed,
      nodes: c.nodes,
      registries: c.registries,
      net: this.net,
      now: () => this.now(),
      faulty: c.faulty,
      restart: (proc, env) => c.restart(proc, env),
      awaitHealthy: (node) => c.awaitHealthy(node),
      revive: (proc) => c.revive(proc),
      checkCleanExit: (proc, exit, when) => c.checkCleanExit(proc, exit, when),
      fault: (kind, target, at, heldMs) => this.rec.fault(kind, target, at, heldMs, this.now()),
      violate: (v) => this.rec.violate(v),
      note: (line) => this.rec.notes.push(line),
      log: (line) => this.rec.log(line),
    };
  }

  private scheduleContext(): ScheduleContext {
    const c = this.cluster!;
    return {
      nodes: c.nodes,
      registries: c.registries,
      token: c.token,
      nodeId: (node) => c.nodeIds.get(node),
      now: () => this.now(),
      bytesWritten: () => this.workload?.bytesWritten ?? 0,
      fault: async (kind, target, heldMs, act) => {
        const at = this.now();
        c.faulty.add(target);
        try {
          await act();
          if (c.nodes.includes(target)) await c.awaitHealthy(target);
        } catch (err) {
          this.rec.violate({ kind: 'fault-recovery-failed', node: target.name, at, detail: `${kind}: ${err instanceof Error ? err.message : String(err)}` });
          await c.revive(target);
        } finally {
          c.faulty.delete(target);
        }
        this.rec.fault(kind, target.name, at, heldMs, this.now());
      },
      restart: (proc) => c.restart(proc),
      checkCleanExit: (proc, exit, when) => c.checkCleanExit(proc, exit, when),
      violate: (v) => this.rec.violate(v),
      log: (line) => this.rec.log(line),
    };
  }

  /** Undoes every fault: nemeses heal, every process runs unpaused, membership is whole; then a few sync rounds. */
  private async heal(): Promise<void> {
    const c = this.cluster!;
    for (const n of this.nemeses) {
      await n.heal(this.nemesisContext()).catch((err: unknown) => this.rec.violate({ kind: 'heal-failed', detail: `${n.name}: ${String(err)}` }));
    }
    for (const p of c.all) await c.revive(p);
    await c.awaitMembership(90_000);
    // A few anti-entropy rounds before looking.
    await sleep(3 * this.o.syncIntervalMs);
  }
}
