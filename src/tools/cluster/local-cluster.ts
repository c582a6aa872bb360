import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';
import { type Env, type ProcessSpec, ServerProcess } from './server-process.js';

/**
 * Registries and nodes on this machine: the one spawner behind the e2e tests (test/support/start-cluster.ts), the
 * chaos runner, the benchmarks (bench/lib/cluster.mjs, targets.mjs, which load it from dist/tools) and
 * `npm run cluster` (scripts/cluster.mjs). Callers choose the defaults (the tests' fast failure detection, the
 * benchmarks' quorums); this module only derives what ties the processes together.
 */

/** What every process of one cluster shares: how it is launched, logged and watched (see {@link ProcessSpec}). */
export type LaunchOptions = Pick<ProcessSpec, 'baseEnv' | 'main' | 'cwd' | 'nodeFlags' | 'notePrefix' | 'unref' | 'startTimeoutMs' | 'hooks' | 'detached' | 'tailLines' | 'directLog'> & {
  /** Each process logs every line to `<logDir>/<logPrefix><name>.log`. */
  logDir?: string;
  logPrefix?: string;
  /** Prefix of the temp data dirs made for processes without one (default `shoal-`, under the OS temp dir). */
  tempPrefix?: string;
  /** Leave the temp data dirs in place on stop (they are named on stderr). */
  keepData?: boolean;
};

export interface StartOptions {
  /** The shared CLUSTER_TOKEN (see {@link newClusterToken}). */
  token: string;
  name?: string;
  /** Default: a free port. */
  port?: number;
  /** Default: a fresh temp directory. */
  dataDir?: string;
  /** Laid under the derived variables (the caller's defaults, e.g. fast heartbeats). */
  defaults?: Env;
  /** Added to (and overriding) the defaults and the derived variables; ROLE, PORT and DATA_DIR stay fixed. */
  env?: Env;
  /** Where it listens and is reached (default 127.0.0.1), and a command prefix to run it with (network namespaces). */
  host?: string;
  wrap?: string[];
  launch?: LaunchOptions;
}

export interface NodeOptions extends StartOptions {
  /** Registries the node joins: REGISTRY_URL lists them all. */
  registries: ReadonlyArray<{ url: string }>;
}

export function newClusterToken(): string {
  return randomBytes(16).toString('hex');
}

/** The spec of a registry process; {@link startRegistry} starts it, scripts/cluster.mjs spawns it on its own terms. */
export function registrySpec(options: StartOptions & { port: number; dataDir: string }): ProcessSpec {
  return spec('registry', options, { CLUSTER_TOKEN: options.token });
}

export function nodeSpec(options: NodeOptions & { port: number; dataDir: string }): ProcessSpec {
  return spec('node', options, {
    CLUSTER_TOKEN: options.token,
    REGISTRY_URL: options.registries.map((r) => r.url).join(','),
    ADVERTISE_URL: `http://${options.host ?? '127.0.0.1'}:${options.port}`,
  });
}

function spec(role: 'registry' | 'node', options: StartOptions & { port: number; dataDir: string }, derived: Env): ProcessSpec {
  const { logDir, logPrefix = '', tempPrefix: _t, keepData: _k, ...launch } = options.launch ?? {};
  const name = options.name ?? role;
  const host: Env = options.host ? { HOST: options.host } : {};
  return {
    ...launch,
    name,
    port: options.port,
    dataDir: options.dataDir,
    host: options.host,
    wrap: options.wrap,
    logFile: logDir ? path.join(logDir, `${logPrefix}${name}.log`) : undefined,
    env: { HOST: '127.0.0.1', ...options.defaults, ...derived, ...host, ...options.env, ROLE: role },
  };
}

export function startRegistry(options: StartOptions): Promise<ServerProcess> {
  return start(options, (port, dataDir) => registrySpec({ ...options, port, dataDir }));
}

export function startNode(options: NodeOptions): Promise<ServerProcess> {
  return start(options, (port, dataDir) => nodeSpec({ ...options, port, dataDir }));
}

async function start(options: StartOptions, specOf: (port: number, dataDir: string) => ProcessSpec): Promise<ServerProcess> {
  const port = options.port ?? (await freePort());
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), options.launch?.tempPrefix ?? 'shoal-')));
  try {
    return await ServerProcess.start(specOf(port, dataDir));
  } catch (err) {
    if (!options.dataDir) await removeDirs([dataDir], options.launch?.keepData ?? false); // nobody else knows about it
    throw err;
  }
}

export interface ClusterOptions {
  /** Storage nodes (default 3). */
  nodes?: number;
  /** Registries (default 1); every node lists all of them. */
  registries?: number;
  /** Extra environment for every process, over the defaults. */
  env?: Env;
  registryEnv?: Env;
  nodeEnv?: Env;
  /** The caller's defaults for each role, under everything else. */
  registryDefaults?: Env;
  nodeDefaults?: Env;
  /**
   * Where node i (1-based, on `port`) listens and how it is launched, e.g. inside a network namespace (default:
   * loopback); `env` is added to its environment (e.g. an ADVERTISE_URL naming a proxy in front of `port`).
   */
  nodeHost?: (i: number, port: number) => NodePlacement | Promise<NodePlacement>;
  /** Where the registries listen (default 127.0.0.1). */
  registryHost?: string;
  /** The URL nodes are given for a registry (default its own; e.g. a proxy in front of it). */
  registryUrl?: (registry: ServerProcess) => string | Promise<string>;
  /** Ports (default: free ones) and data dirs (default: temp dirs) by process name. */
  portOf?: (name: string) => Promise<number>;
  dataDirOf?: (name: string) => string;
  /** Wait until every registry lists every node `up` and every node is ready (default true). */
  waitForMembership?: boolean;
  /** Bound of that wait (default 20 s). */
  membershipTimeoutMs?: number;
  launch?: LaunchOptions;
}

export interface NodePlacement {
  host?: string;
  wrap?: string[];
  env?: Env;
}

/** A running cluster. `stop()` it when done. */
export interface Cluster {
  token: string;
  /** The first registry. */
  registry: ServerProcess;
  registries: ServerProcess[];
  nodes: ServerProcess[];
  /** Starts one more node in the cluster; `stop()` cleans it up too. */
  addNode(env?: Env): Promise<ServerProcess>;
  /** Resolves once every registry lists every running node `up` and each of them is ready. */
  waitForMembership(timeoutMs?: number): Promise<void>;
  /** Stops every process and removes the data dirs. */
  stop(): Promise<void>;
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const token = newClusterToken();
  const started: ServerProcess[] = [];
  const launched = async (name: string, make: (port: number | undefined, dataDir: string | undefined) => Promise<ServerProcess>) => {
    const proc = await make(await options.portOf?.(name), options.dataDirOf?.(name));
    started.push(proc);
    return proc;
  };
  const stop = () => stopAndRemove(started, options.launch?.keepData ?? false);
  const registries: ServerProcess[] = [];
  const { launch } = options;
  try {
    const first = await Promise.all(
      range(options.registries ?? 1).map((i) =>
        launched(`registry-${i}`, (port, dataDir) =>
          startRegistry({ token, name: `registry-${i}`, port, dataDir, host: options.registryHost, defaults: options.registryDefaults, env: { ...options.env, ...options.registryEnv }, launch }),
        ),
      ),
    );
    registries.push(...first);
    const registryUrls = await Promise.all(registries.map(async (r) => ({ url: options.registryUrl ? await options.registryUrl(r) : r.url })));
    let count = 0;
    const addNode = (env: Env = {}) => {
      const i = ++count;
      const name = `node-${i}`;
      return launched(name, async (given, dataDir) => {
        const port = given ?? (await freePort());
        const { env: placed, ...host } = (await options.nodeHost?.(i, port)) ?? {};
        return startNode({ token, registries: registryUrls, name, port, dataDir, ...host, defaults: options.nodeDefaults, env: { ...options.env, ...options.nodeEnv, ...placed, ...env }, launch });
      });
    };
    const nodes = await Promise.all(range(options.nodes ?? 3).map(() => addNode()));
    const waitForMembership = (timeoutMs = options.membershipTimeoutMs ?? 20_000) => awaitMembership(registries, nodes, timeoutMs);
    const cluster: Cluster = {
      token,
      registry: registries[0],
      registries,
      nodes,
      addNode: async (env) => {
        const node = await addNode(env);
        nodes.push(node);
        return node;
      },
      waitForMembership,
      stop,
    };
    if (options.waitForMembership ?? true) await waitForMembership();
    return cluster;
  } catch (err) {
    await stop(); // a half-started cluster must not outlive the failed start
    throw err;
  }
}

/** Every registry lists every running node `up`, and each of them answers /health/ready. */
export async function awaitMembership(registries: readonly ServerProcess[], nodes: readonly ServerProcess[], timeoutMs: number): Promise<void> {
  // Registries list a node by the URL it advertises, which need not be where it listens (a proxy in front of it).
  const expected = nodes.filter((n) => n.running).map((n) => n.env.ADVERTISE_URL ?? n.url).sort();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reason = await membershipGap(registries, nodes, expected).catch((err: unknown) => (err instanceof Error ? err.message : String(err)));
    if (reason === undefined) return;
    if (Date.now() >= deadline) throw new Error(`the cluster did not converge (gave up after ${timeoutMs} ms)\n${reason}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function membershipGap(registries: readonly ServerProcess[], nodes: readonly ServerProcess[], expected: string[]): Promise<string | undefined> {
  for (const registry of registries) {
    const body = (await getJson(`${registry.url}/v1/nodes`)) as { nodes: { url: string; status: string }[] };
    const up = body.nodes.filter((n) => n.status === 'up').map((n) => n.url);
    const missing = expected.filter((url) => !up.includes(url));
    if (missing.length) return `${registry.name} does not list ${missing.join(', ')} as up`;
  }
  for (const node of nodes.filter((n) => n.running)) {
    const res = await fetch(`${node.url}/health/ready`, { signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    if (res.status !== 200) return `${node.name} is not ready: ${res.status} ${text}`;
    // A node is ready once it knows a membership list, which may predate the others' registration: until its next
    // refresh it would place writes on itself alone (a coordinator caps N and W at the nodes it knows).
    const seen = (await getJson(`${node.url}/v1/node`)) as { members: { url: string; status: string }[] };
    const unseen = expected.filter((url) => !seen.members.some((m) => m.url === url && m.status === 'up'));
    if (unseen.length) return `${node.name} does not see ${unseen.join(', ')} as up yet`;
  }
  return undefined;
}

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET ${url} answered ${res.status}`);
  return res.json();
}

/** Stops the processes and removes their data dirs (unless `keepData`); for processes started on their own. */
export async function stopAndRemove(procs: readonly ServerProcess[], keepData = false): Promise<void> {
  await Promise.all(procs.map((p) => p.stop()));
  await removeDirs([...new Set(procs.map((p) => p.dataDir))], keepData);
}

async function removeDirs(dirs: string[], keep: boolean): Promise<void> {
  if (keep) {
    process.stderr.write(`kept ${dirs.join(' ')}\n`);
    return;
  }
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}
