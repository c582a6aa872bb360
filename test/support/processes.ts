import { type ChildProcess, spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { isLive } from './http.js';
import { sleep } from './poll-until.js';
import { SERVER_NODE_FLAGS } from '../../src/tools/server-flags.js';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = path.join(REPO_ROOT, 'dist', 'main.js');
const LOG_LINES = 200;
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;

export type Env = Record<string, string>;

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** What {@link ShoalProcess.start} needs; `env` holds the Shoal variables (DESIGN.md §1) except PORT and DATA_DIR. */
export interface ProcessSpec {
  /** Label in logs and errors, e.g. `node-2`. */
  name: string;
  port: number;
  dataDir: string;
  env: Env;
  /** Address it listens on and is reached at (default 127.0.0.1; a test network namespace's address, see netns.ts). */
  host?: string;
  /** Command prefix, e.g. `['ip', 'netns', 'exec', 'ns1']` to run it inside a network namespace (it execs, so the pid stays the node's). */
  wrap?: string[];
}

/**
 * One `node dist/main.js` child listening on 127.0.0.1. Its output is kept in memory (last 200 lines) so that a
 * failing test can print it; `restart` keeps the port and the data directory, as a real restart would.
 */
export class ShoalProcess {
  readonly name: string;
  readonly port: number;
  readonly dataDir: string;
  readonly host: string;
  private readonly wrap: string[];
  private currentEnv: Env;
  private child?: ChildProcess;
  private exited: Promise<ExitInfo> = Promise.resolve({ code: null, signal: null });
  private readonly lines: string[] = [];

  private constructor(spec: ProcessSpec) {
    this.name = spec.name;
    this.port = spec.port;
    this.dataDir = spec.dataDir;
    this.host = spec.host ?? '127.0.0.1';
    this.wrap = spec.wrap ?? [];
    this.currentEnv = spec.env;
  }

  /** Spawns the process and resolves once it answers `GET /health/live`. */
  static async start(spec: ProcessSpec): Promise<ShoalProcess> {
    const proc = new ShoalProcess(spec);
    await proc.launch();
    return proc;
  }

  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  /** The full Shoal environment of the current run, PORT and DATA_DIR included. */
  get env(): Readonly<Env> {
    return { ...this.currentEnv, PORT: String(this.port), DATA_DIR: this.dataDir };
  }

  get pid(): number {
    const pid = this.child?.pid;
    if (pid === undefined) throw new Error(`${this.name} has no process`);
    return pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends a real signal: SIGKILL for a crash, SIGSTOP/SIGCONT for a hung process, SIGTERM for a graceful stop. */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (!this.running || !this.child?.kill(signal)) throw new Error(`${this.name} is not running; cannot send ${signal}`);
  }

  /** SIGTERM and wait for the exit; SIGKILL after 5 s. Does nothing once the process has exited. */
  async stop(): Promise<ExitInfo> {
    if (this.running) {
      this.child?.kill('SIGTERM');
      this.child?.kill('SIGCONT'); // a SIGSTOPped process only acts on the SIGTERM once it runs again
      const force = setTimeout(() => this.child?.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await this.exited.finally(() => clearTimeout(force));
    }
    return this.exited;
  }

  /** Stops the process if needed and starts it again on the same port and data directory. */
  async restart(extraEnv: Record<string, string | undefined> = {}): Promise<void> {
    await this.stop();
    const env = { ...this.currentEnv, ...extraEnv };
    this.currentEnv = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
    await this.launch();
  }

  /** Resolves when the current run ends, with its exit code or signal. */
  waitExit(): Promise<ExitInfo> {
    return this.exited;
  }

  /** The last lines of stdout and stderr (pino JSON, stack traces), across restarts. */
  logs(): string {
    return this.lines.join('\n');
  }

  private async launch(): Promise<void> {
    const [command, ...args] = [...this.wrap, process.execPath, ...SERVER_NODE_FLAGS, MAIN];
    const child = spawn(command, args, {
      cwd: REPO_ROOT,
      // Only PATH from the test's own environment, so a variable set in the developer's shell cannot change a test.
      env: { PATH: process.env.PATH ?? '', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('error', (err) => {
        this.record(`[test] spawn failed: ${err.message}`);
        resolve({ code: null, signal: null });
      });
      child.once('exit', (code, signal) => {
        untrackPid(child.pid);
        this.record(`[test] ${this.name} exited (${signal ?? `code ${code}`})`);
        resolve({ code, signal });
      });
    });
    trackPid(child.pid);
    // A child a test forgot to stop must not keep Jest alive; the exit hook below kills it instead.
    child.unref();
    for (const stream of [child.stdout, child.stderr]) {
      (stream as Socket).unref();
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => this.record(line));
    }
    this.record(`[test] started ${this.name} pid ${child.pid} on ${this.url}`);
    await this.waitLive();
  }

  private async waitLive(): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await isLive(this.url))) {
      if (!this.running) throw new Error(`${this.name} exited before answering GET /health/live\n${this.logs()}`);
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`${this.name} did not answer GET /health/live within ${START_TIMEOUT_MS} ms\n${this.logs()}`);
      }
      await sleep(100);
    }
  }

  private record(line: string): void {
    this.lines.push(line);
    if (this.lines.length > LOG_LINES) this.lines.shift();
  }
}

/**
 * Pids of every child still running, SIGKILLed when the test process exits so that no failed or forgotten test
 * leaves one behind. Jest gives each test file a sandboxed copy of `process` whose 'exit' event never fires, so the
 * set and the hook live on the host process (reached through the main V8 context) and are shared by all test files.
 */
const TRACKED = Symbol.for('shoal.test.trackedPids');
let tracked: Set<number> | undefined;

function trackedPids(): Set<number> {
  if (tracked) return tracked;
  const host = vm.runInThisContext('process') as NodeJS.Process & { [TRACKED]?: Set<number> };
  if (!host[TRACKED]) {
    const pids = new Set<number>();
    host[TRACKED] = pids;
    host.once('exit', () => {
      for (const pid of pids) killQuietly(host, pid);
    });
  }
  return (tracked = host[TRACKED]);
}

/** Kill `pid` with SIGKILL if it is still tracked when the test process exits. */
export function trackPid(pid: number | undefined): void {
  if (pid !== undefined) trackedPids().add(pid);
}

export function untrackPid(pid: number | undefined): void {
  if (pid !== undefined) trackedPids().delete(pid);
}

function killQuietly(host: NodeJS.Process, pid: number): void {
  try {
    host.kill(pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err; // ESRCH: it is gone already, as intended
  }
}
