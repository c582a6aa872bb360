import type { TestNet } from '../../support/test-net.js';
import type { ShoalProcess } from '../../support/processes.js';

/**
 * What a nemesis (a source of faults beyond the runner's own kill / pause / registry-restart schedule) may use of
 * the chaos run. Nemeses live in their own files so that new ones need no change to chaos-runner.ts beyond its list
 * (process.nemesis.ts is the runner's own kill / pause / registry-restart schedule).
 */
export interface NemesisContext {
  seed: number;
  nodes: readonly ShoalProcess[];
  registries: readonly ShoalProcess[];
  /** the test network the processes were placed on (network namespaces or fault proxies), else undefined */
  net?: TestNet;
  /** ms since the start of the load */
  now(): number;
  /**
   * Processes some fault holds right now. A nemesis takes a node only when it is not in this set and adds it while it
   * holds it, so that faults do not pile up on one process (the runner's own schedule honours it too).
   */
  faulty: Set<ShoalProcess>;
  /** Restarts a process on its port and data dir, with environment changes (`undefined` removes a variable). */
  restart(proc: ShoalProcess, env?: Record<string, string | undefined>): Promise<void>;
  /** Back in service: live, up in every registry, ready. */
  awaitHealthy(node: ShoalProcess): Promise<void>;
  /** Makes sure a process runs and is not paused (after a failed fault); a failure is a violation. */
  revive(proc: ShoalProcess): Promise<void>;
  /** SIGTERM must end a process cleanly: anything else is a violation. */
  checkCleanExit(proc: ShoalProcess, exit: { code: number | null; signal: NodeJS.Signals | null }, when: string): void;
  /** Records an injected fault for the report. */
  fault(kind: string, target: string, at: number, heldMs: number): void;
  violate(v: { kind: string; node?: string; at?: number; detail: string }): void;
  note(line: string): void;
  log(line: string): void;
}

export interface Nemesis {
  readonly name: string;
  /** Injects faults until `until` (Date.now ms); never rejects for an ordinary fault, records a violation instead. */
  run(ctx: NemesisContext, until: number): Promise<void>;
  /** Undoes whatever is still in force, before the cluster is judged. */
  heal(ctx: NemesisContext): Promise<void>;
}

