import type { MembershipDto } from '../../src/common/protocol/membership.dto.js';
import { nodeInfo } from '../support/files.js';
import { requestJson } from '../support/http.js';
import { freePort } from '../../src/tools/cluster/ports.js';
import { sleep } from '../support/poll-until.js';
import type { Env, ShoalProcess } from '../support/processes.js';
import { newClusterToken, startNode, startRegistry, stopAndRemove } from '../support/start-cluster.js';
import type { TestNet } from '../support/test-net.js';
import { N, PARTITION_BITS, R, W } from './chaos-types.js';
import { type RunLog, tail } from './report.js';

export interface ChaosClusterOptions {
  logLevel: string;
  registryMaxClockSkewMs: number;
  syncIntervalMs: number;
  /** each process appends its output to <logDir>/<name>.log */
  logDir: string;
  /** when set, the processes are placed on this test network (network namespaces, or behind fault proxies) */
  net?: TestNet;
  /** start of the load (Date.now ms; 0 before it) */
  t0: () => number;
}

/**
 * The cluster under chaos and its upkeep: 2 registries and 4 nodes (N=3 W=2 R=2) started one at a time, restarts
 * that survive a slow boot, "back in service" checks, the watchdog that turns an exit nobody caused into a violation,
 * and the membership wait used at start-up and when healing.
 */
export class ChaosCluster {
  readonly registries: ShoalProcess[] = [];
  readonly nodes: ShoalProcess[] = [];
  readonly token = newClusterToken();
  /** processes that a fault holds right now (taken down or paused on purpose) */
  readonly faulty = new Set<ShoalProcess>();
  readonly nodeIds = new Map<ShoalProcess, string>();

  private constructor(
    private readonly opts: ChaosClusterOptions,
    private readonly rec: RunLog,
  ) {}

  /**
   * Registries, then nodes, one at a time: on a busy machine a node can take many seconds to boot, and six processes
   * booting at once may exceed the spawner's 20 s start timeout. `started` gets the cluster before it is up, so that
   * a failed start still stops what runs.
   */
  static async start(opts: ChaosClusterOptions, rec: RunLog, started: (c: ChaosCluster) => void): Promise<ChaosCluster> {
    const cluster = new ChaosCluster(opts, rec);
    started(cluster);
    const registryEnv: Env = { NODE_TTL_MS: '1500', NODE_DEAD_MS: '3600000', LOG_LEVEL: opts.logLevel, MAX_CLOCK_SKEW_MS: String(opts.registryMaxClockSkewMs) };
    const nodeEnv: Env = {
      HEARTBEAT_INTERVAL_MS: '200',
      SYNC_INTERVAL_MS: String(opts.syncIntervalMs),
      REPLICATION_FACTOR: String(N),
      WRITE_QUORUM: String(W),
      READ_QUORUM: String(R),
      PARTITION_BITS: String(PARTITION_BITS),
      LOG_LEVEL: opts.logLevel,
    };
    const { token, net, logDir } = { token: cluster.token, net: opts.net, logDir: opts.logDir };
    // Nodes reach the registries (and each other) at the URLs the test network gives: behind a proxy, not the port.
    const registryUrls: { url: string }[] = [];
    for (let i = 1; i <= 2; i++) {
      const registry = await withRetries(3, () => startRegistry({ token, name: `registry-${i}`, env: registryEnv, host: net?.registryHost, logDir }));
      cluster.registries.push(registry);
      registryUrls.push({ url: net ? await net.registryUrl(registry) : registry.url });
    }
    for (let i = 1; i <= 4; i++) {
      const name = `node-${i}`;
      const port = await freePort();
      const placed = net ? await net.placeNode(name, port) : {};
      const node = await withRetries(3, () => startNode({ token, registries: registryUrls, name, port, env: { ...nodeEnv, ...placed.env }, host: placed.host, wrap: placed.wrap, logDir }));
      cluster.nodes.push(node);
    }
    await cluster.awaitMembership(120_000);
    return cluster;
  }

  get all(): ShoalProcess[] {
    return [...this.registries, ...this.nodes];
  }

  stop(): Promise<void> {
    return stopAndRemove(this.all);
  }

  private now(): number {
    return Date.now() - this.opts.t0();
  }

  /** SIGTERM must end a process cleanly (DESIGN §5: stopped gracefully). */
  checkCleanExit(proc: ShoalProcess, exit: { code: number | null; signal: NodeJS.Signals | null }, when: string): void {
    // Nest closes the app on SIGTERM, then raises the signal again: ending by SIGTERM (or code 0) is clean; an exit
    // code from an uncaught error, or the SIGKILL that follows a stop hung for 5 s, is not.
    if (exit.code === 0 || exit.signal === 'SIGTERM') return;
    this.rec.violate({
      kind: 'unclean-shutdown',
      node: proc.name,
      at: this.opts.t0() ? this.now() : undefined,
      detail: `${when}: SIGTERM ended ${proc.name} with ${exit.signal ?? `exit code ${exit.code}`}; last lines:\n${tail(proc.logs(), 15)}`,
    });
  }

  /**
   * Restarts a process on its port and data dir. The test support gives a start 20 s; on a loaded machine a boot can
   * take longer, so a timed-out start is noted and tried again (3 attempts) rather than called a violation.
   */
  async restart(proc: ShoalProcess, env?: Record<string, string | undefined>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await proc.restart(env);
        return;
      } catch (err) {
        const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
        if (attempt >= 3 || !/did not answer GET \/health\/live/.test(message)) throw err;
        this.rec.notes.push(`${proc.name}: restart attempt ${attempt} at ${Math.round(this.now() / 1000)} s: ${message}; trying again`);
      }
    }
  }

  /** Back in service: every registry lists the node up, and it is ready (60 s at most). */
  async awaitHealthy(node: ShoalProcess, timeoutMs = 60_000): Promise<void> {
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
  async revive(proc: ShoalProcess): Promise<void> {
    try {
      if (proc.running) proc.kill('SIGCONT');
      else await this.restart(proc);
    } catch (err) {
      this.rec.violate({ kind: 'restart-failed', node: proc.name, at: this.now(), detail: err instanceof Error ? err.message : String(err) });
    }
  }

  /** A process that exits without the scheduler having killed it is a crash: recorded, then restarted. */
  async watchdog(stopping: () => boolean): Promise<void> {
    const reported = new Set<ShoalProcess>();
    while (!stopping()) {
      for (const p of [...this.registries, ...this.nodes]) {
        if (p.running || this.faulty.has(p) || reported.has(p)) continue;
        const exit = await p.waitExit();
        reported.add(p); // reported once; if it cannot be restarted the heal phase tries again
        this.rec.violate({ kind: 'unexpected-exit', node: p.name, at: this.now(), detail: `${p.name} exited on its own (${exit.signal ?? `code ${exit.code}`}); last lines:\n${tail(p.logs(), 30)}` });
        this.faulty.add(p);
        await this.revive(p);
        this.faulty.delete(p);
        if (p.running) reported.delete(p);
      }
      await sleep(500);
    }
  }


  /** Every registry lists every node up, and every node is ready and sees every other one up. */
  async awaitMembership(timeoutMs: number): Promise<void> {
    await pollFor(timeoutMs, async () => {
      for (const node of this.nodes) {
        if (!this.nodeIds.has(node)) this.nodeIds.set(node, (await nodeInfo(node)).id);
      }
      for (const registry of this.registries) {
        const { status, body } = await requestJson<MembershipDto>(`${registry.url}/v1/nodes`, { timeoutMs: 3000 });
        if (status !== 200) return `${registry.name}: GET /v1/nodes answered ${status}`;
        const notUp = this.nodes.filter((n) => !body.nodes.some((m) => m.id === this.nodeIds.get(n) && m.status === 'up'));
        if (notUp.length) return `${registry.name} does not list ${notUp.map((n) => n.name).join(', ')} as up`;
      }
      for (const node of this.nodes) {
        const info = await nodeInfo(node);
        const up = info.members.filter((m) => m.status === 'up').length;
        if (up !== this.nodes.length || info.state !== 'ready') return `${node.name}: ${info.state}, sees ${up} of ${this.nodes.length} nodes up`;
        const ready = await requestJson(`${node.url}/health/ready`, { timeoutMs: 3000 });
        if (ready.status !== 200) return `${node.name}: /health/ready answered ${ready.status}`;
      }
      return undefined;
    });
  }
}

/** Retries `check` (which returns a reason while not done) until it returns undefined; throws with the last reason. */
export async function pollFor(timeoutMs: number, check: () => Promise<string | undefined>): Promise<void> {
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

async function withRetries<T>(attempts: number, fn: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
    }
  }
}
