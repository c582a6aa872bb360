import type { ShoalProcess } from '../support/processes.js';
import type { NetChoice } from '../support/test-net.js';

/** The chaos run's options, report and extension points (fault schedules); see chaos-runner.ts for the run itself. */

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
  /**
   * How the partition nemesis cuts the network (default auto): `netns` (network namespaces and iptables; needs root),
   * `proxy` (a fault-injecting TCP proxy on 127.0.0.1 in front of every node and registry) or `auto` (namespaces
   * where they work, else the proxy). See test/support/test-net.ts.
   */
  net?: NetChoice;
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
  /** what partitioned the network, and why (network namespaces, the fault proxy, or none) */
  network?: string;
}

export const KiB = 1024;
export const MiB = 1024 * KiB;
/** The cluster under chaos: 4 nodes, 2 registries, N=3 W=2 R=2, 1024 partitions. */
export const PARTITION_BITS = 10;
export const N = 3;
export const W = 2;
export const R = 2;
export const KEY_PREFIX = 'chaos/';
