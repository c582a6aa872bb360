import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, createWriteStream, openSync, readFileSync, type WriteStream } from 'node:fs';
import type { Socket } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SERVER_NODE_FLAGS } from '../server-flags.js';

/** The checkout this module belongs to (the same from src/tools/cluster and dist/tools/cluster). */
export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const MAIN = path.join(REPO_ROOT, 'dist', 'main.js');

export type Env = Record<string, string>;

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Called as children come and go: tests track pids to kill forgotten ones, `npm run cluster` summarises lines. */
export interface ProcessHooks {
  spawned?(pid: number): void;
  exited?(pid: number): void;
  /** Every line of the child's stdout and stderr. */
  line?(line: string): void;
}

/** What {@link ServerProcess} needs; `env` holds the Shoal variables (DESIGN.md §1) except PORT and DATA_DIR. */
export interface ProcessSpec {
  /** Label in logs and errors, e.g. `node-2`. */
  name: string;
  port: number;
  dataDir: string;
  env: Env;
  /** Address it listens on and is reached at (default 127.0.0.1; a test network namespace's address). */
  host?: string;
  /** Command prefix, e.g. `['ip', 'netns', 'exec', 'ns1']` (it execs, so the pid stays the server's). */
  wrap?: string[];
  /** The environment `env` is laid over (PATH, HOME…); nothing else of the caller's leaks in. Default: none. */
  baseEnv?: Env;
  /** The server entry point (default dist/main.js of this checkout; a bench may run a snapshot or another build). */
  main?: string;
  /** Working directory (default this checkout). */
  cwd?: string;
  /** Node flags (default SERVER_NODE_FLAGS, src/tools/server-flags.ts). */
  nodeFlags?: readonly string[];
  /** Appends every output line here, across restarts. */
  logFile?: string;
  /**
   * With `logFile`: the child writes to it directly and the parent reads nothing (a benchmark's load generator keeps
   * its CPU to itself); `logs()` then reads the file's tail, and `hooks.line` and `notePrefix` see nothing.
   */
  directLog?: boolean;
  /** Lines kept in memory for {@link ServerProcess.logs} (default 200). */
  tailLines?: number;
  /** When set, the spawner's own lines ("started …", "exited …") are kept too, with this prefix, e.g. `[test]`. */
  notePrefix?: string;
  /** Own process group: a terminal's Ctrl-C then reaches only the parent, which stops the children itself. */
  detached?: boolean;
  /**
   * Let the parent exit while the child runs (default false): a test runner must not wait on a child a test forgot
   * to stop (its exit hook kills it instead).
   */
  unref?: boolean;
  /** How long a start may take to answer GET /health/live (default 20 s). */
  startTimeoutMs?: number;
  hooks?: ProcessHooks;
}

/** Why {@link ServerProcess.waitLive} gave up. */
export class StartError extends Error {
  constructor(
    readonly proc: ServerProcess,
    readonly reason: 'exited' | 'timeout' | 'interrupted',
    message: string,
  ) {
    super(message);
  }
}

/**
 * One Shoal server process (`node <flags> dist/main.js`), for tests, benchmarks and `npm run cluster`. Its last output
 * lines are kept in memory (and every line in `logFile` when given) so that a failure can show them; `restart` keeps
 * the port and the data directory, as a real restart would.
 */
export class ServerProcess {
  readonly name: string;
  readonly port: number;
  readonly dataDir: string;
  readonly host: string;
  readonly logFile?: string;
  private readonly spec: ProcessSpec;
  private currentEnv: Env;
  private child?: ChildProcess;
  private exit?: ExitInfo;
  private exited: Promise<ExitInfo> = Promise.resolve({ code: null, signal: null });
  private readonly lines: string[] = [];

  constructor(spec: ProcessSpec) {
    this.spec = spec;
    this.name = spec.name;
    this.port = spec.port;
    this.dataDir = spec.dataDir;
    this.host = spec.host ?? '127.0.0.1';
    this.logFile = spec.logFile;
    this.currentEnv = spec.env;
  }

  /** Spawns the process and resolves once it answers `GET /health/live`. */
  static async start(spec: ProcessSpec): Promise<ServerProcess> {
    const proc = new ServerProcess(spec);
    proc.spawn();
    await proc.waitLive();
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

  /** How the current run ended; undefined while it runs (or before the first spawn). */
  get exitInfo(): ExitInfo | undefined {
    return this.exit;
  }

  /** Sends a real signal: SIGKILL for a crash, SIGSTOP/SIGCONT for a hung process, SIGTERM for a graceful stop. */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (!this.running || !this.child?.kill(signal)) throw new Error(`${this.name} is not running; cannot send ${signal}`);
  }

  /**
   * SIGTERM and wait for the exit; SIGKILL after `graceMs` (default 5 s), `onForce` called first. Does nothing once
   * the process has exited.
   */
  async stop(graceMs = 5_000, onForce?: () => void): Promise<ExitInfo> {
    if (this.running) {
      this.child?.kill('SIGTERM');
      this.child?.kill('SIGCONT'); // a SIGSTOPped process only acts on the SIGTERM once it runs again
      const force = setTimeout(() => {
        onForce?.();
        this.child?.kill('SIGKILL');
      }, graceMs);
      await this.exited.finally(() => clearTimeout(force));
    }
    return this.exited;
  }

  /** Stops the process if needed and starts it again on the same port and data directory; resolves once live. */
  async restart(extraEnv: Record<string, string | undefined> = {}): Promise<void> {
    await this.stop();
    const env = { ...this.currentEnv, ...extraEnv };
    this.currentEnv = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
    this.spawn();
    await this.waitLive();
  }

  /** Resolves when the current run ends (its output read and logged), with its exit code or signal. */
  waitExit(): Promise<ExitInfo> {
    return this.exited;
  }

  /** The last lines of stdout and stderr (pino JSON, stack traces), across restarts. */
  logs(): string {
    if (this.direct) return readFileSync(this.logFile!, 'utf8').trimEnd().split('\n').slice(-(this.spec.tailLines ?? 200)).join('\n');
    return this.lines.join('\n');
  }

  private get direct(): boolean {
    return Boolean(this.spec.directLog && this.spec.logFile);
  }

  /** Starts the child now (synchronously, so `pid` is the new one at once); see {@link waitLive}. */
  spawn(): void {
    if (this.running) throw new Error(`${this.name} is already running`);
    const { spec } = this;
    const [command, ...args] = [...(spec.wrap ?? []), process.execPath, ...(spec.nodeFlags ?? SERVER_NODE_FLAGS), spec.main ?? MAIN];
    const fd = this.direct ? openSync(spec.logFile!, 'a') : undefined;
    const child = spawn(command, args, {
      cwd: spec.cwd ?? REPO_ROOT,
      env: { ...spec.baseEnv, ...this.env },
      stdio: fd === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', fd, fd],
      detached: spec.detached ?? false,
    });
    if (fd !== undefined) closeSync(fd); // the child has its own copy
    this.child = child;
    this.exit = undefined;
    const log: WriteStream | undefined = spec.logFile && fd === undefined ? createWriteStream(spec.logFile, { flags: 'a' }) : undefined;
    const record = (line: string) => {
      this.lines.push(line);
      if (this.lines.length > (spec.tailLines ?? 200)) this.lines.shift();
      log?.write(`${line}\n`);
    };
    const note = (line: string) => {
      if (spec.notePrefix !== undefined) record(`${spec.notePrefix} ${line}`);
    };
    this.exited = new Promise((resolve) => {
      const finish = (info: ExitInfo) => {
        if (this.exit) return;
        this.exit = info;
        if (child.pid !== undefined) spec.hooks?.exited?.(child.pid);
        if (log) log.end(() => resolve(info)); // flushed before anyone acts on the exit
        else resolve(info);
      };
      child.once('error', (err) => {
        note(`spawn failed: ${err.message}`);
        finish({ code: null, signal: null });
      });
      // 'close' rather than 'exit': it comes after the last output line, so the tail is complete.
      child.once('close', (code, signal) => {
        note(`${this.name} exited (${signal ?? `code ${code}`})`);
        finish({ code, signal });
      });
    });
    if (child.pid !== undefined) spec.hooks?.spawned?.(child.pid);
    if (spec.unref) child.unref();
    for (const stream of fd === undefined ? [child.stdout, child.stderr] : []) {
      if (spec.unref) (stream as Socket).unref();
      createInterface({ input: stream!, crlfDelay: Infinity }).on('line', (line) => {
        record(line);
        spec.hooks?.line?.(line);
      });
    }
    note(`started ${this.name} pid ${child.pid} on ${this.url}`);
  }

  /**
   * Resolves once `GET /health/live` answers 2xx. Throws a {@link StartError} when the process exits first, when
   * `startTimeoutMs` passes (the process is stopped then), or when `interrupted()` turns true.
   */
  async waitLive(interrupted: () => boolean = () => false): Promise<void> {
    const timeoutMs = this.spec.startTimeoutMs ?? 20_000;
    const deadline = Date.now() + timeoutMs;
    while (!(await isLive(this.url))) {
      if (interrupted()) throw new StartError(this, 'interrupted', `${this.name} start-up interrupted`);
      if (!this.running) throw new StartError(this, 'exited', `${this.name} exited before answering GET /health/live\n${this.logs()}`);
      if (Date.now() > deadline) {
        await this.stop();
        throw new StartError(this, 'timeout', `${this.name} did not answer GET /health/live within ${timeoutMs} ms\n${this.logs()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** True when `GET <baseUrl>/health/live` answers 2xx; false while nothing listens there. */
export async function isLive(baseUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${baseUrl}/health/live`, { signal: AbortSignal.timeout(1000) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false; // refused or timed out: not (or no longer) listening
  }
}
