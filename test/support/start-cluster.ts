import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { MembershipDto } from '../../src/common/protocol/membership.dto.js';
import { freePort } from './free-port.js';
import { getJson, requestJson } from './http.js';
import { pollUntil } from './poll-until.js';
import { type Env, ShoalProcess } from './processes.js';

/** Fast failure detection so that tests about liveness take seconds, not the production 10 s. */
const REGISTRY_DEFAULTS: Env = { HOST: '127.0.0.1', LOG_LEVEL: 'warn', NODE_TTL_MS: '1500' };
const NODE_DEFAULTS: Env = { HOST: '127.0.0.1', LOG_LEVEL: 'warn', HEARTBEAT_INTERVAL_MS: '200' };

export interface StartOptions {
  /** The shared CLUSTER_TOKEN (see {@link newClusterToken}). */
  token: string;
  name?: string;
  /** Default: a free port. */
  port?: number;
  /** Default: a fresh `shoal-test-*` directory under the OS temp dir. */
  dataDir?: string;
  /** Added to (and overriding) the test defaults and the derived variables; ROLE, PORT and DATA_DIR stay fixed. */
  env?: Env;
  /** Where it listens and is reached (default 127.0.0.1), and a command prefix to run it with (see processes.ts). */
  host?: string;
  wrap?: string[];
}

export interface NodeOptions extends StartOptions {
  /** Registries the node joins: REGISTRY_URL lists them all. */
  registries: ReadonlyArray<{ url: string }>;
}

export function newClusterToken(): string {
  return randomBytes(16).toString('hex');
}

export function startRegistry(options: StartOptions): Promise<ShoalProcess> {
  return start('registry', options, () => ({ ...REGISTRY_DEFAULTS, CLUSTER_TOKEN: options.token }));
}

export function startNode(options: NodeOptions): Promise<ShoalProcess> {
  return start('node', options, (port) => ({
    ...NODE_DEFAULTS,
    CLUSTER_TOKEN: options.token,
    REGISTRY_URL: options.registries.map((r) => r.url).join(','),
    ADVERTISE_URL: `http://${options.host ?? '127.0.0.1'}:${port}`,
  }));
}

async function start(role: 'registry' | 'node', options: StartOptions, derive: (port: number) => Env): Promise<ShoalProcess> {
  const port = options.port ?? (await freePort());
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'shoal-test-')));
  try {
    const host: Env = options.host ? { HOST: options.host } : {};
    return await ShoalProcess.start({ name: options.name ?? role, port, dataDir, host: options.host, wrap: options.wrap, env: { ...derive(port), ...host, ...options.env, ROLE: role } });
  } catch (err) {
    if (!options.dataDir) await removeDirs([dataDir]); // nobody else knows about it
    throw err;
  }
}

export interface ClusterOptions {
  /** Storage nodes (default 3). */
  nodes?: number;
  /** Registries (default 1); every node lists all of them. */
  registries?: number;
  /** Extra environment for every process. */
  env?: Env;
  registryEnv?: Env;
  nodeEnv?: Env;
  /** Where node i (1-based) listens and how it is launched, e.g. inside a network namespace (default: loopback). */
  nodeHost?: (i: number) => { host: string; wrap?: string[] };
  /** Where the registries listen (default 127.0.0.1). */
  registryHost?: string;
  /** Wait until every registry lists every node `up` and every node is ready (default true). */
  waitForMembership?: boolean;
}

/** A running test cluster. `stop()` it in `afterAll`/`afterEach`. */
export interface Cluster {
  token: string;
  /** The first registry. */
  registry: ShoalProcess;
  registries: ShoalProcess[];
  nodes: ShoalProcess[];
  /** Starts one more node in the cluster; `stop()` cleans it up too. */
  addNode(env?: Env): Promise<ShoalProcess>;
  /** Resolves once every registry lists every running node `up` and each of them is ready. */
  waitForMembership(timeoutMs?: number): Promise<void>;
  /** Stops every process and removes the temp dirs (kept when KEEP_TEST_DATA=1). */
  stop(): Promise<void>;
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const token = newClusterToken();
  const started: ShoalProcess[] = [];
  const launch = async (p: Promise<ShoalProcess>) => {
    const proc = await p;
    started.push(proc);
    return proc;
  };
  const stop = () => stopAndRemove(started);
  try {
    const registries = await Promise.all(
      range(options.registries ?? 1).map((i) =>
        launch(startRegistry({ token, name: `registry-${i}`, host: options.registryHost, env: { ...options.env, ...options.registryEnv } })),
      ),
    );
    let count = 0;
    const addNode = (env: Env = {}) => {
      const i = ++count;
      return launch(startNode({ token, registries, name: `node-${i}`, ...options.nodeHost?.(i), env: { ...options.env, ...options.nodeEnv, ...env } }));
    };
    const nodes = await Promise.all(range(options.nodes ?? 3).map(() => addNode()));
    const waitForMembership = (timeoutMs = 20_000) => awaitMembership(registries, nodes, timeoutMs);
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
    await stop(); // a half-started cluster must not outlive the failed beforeAll
    throw err;
  }
}

async function awaitMembership(registries: ShoalProcess[], nodes: ShoalProcess[], timeoutMs: number): Promise<void> {
  const expected = nodes.filter((n) => n.running).map((n) => n.url).sort();
  await pollUntil(
    async () => {
      for (const registry of registries) {
        const { body } = await getJson<MembershipDto>(`${registry.url}/v1/nodes`);
        const up = body.nodes.filter((n) => n.status === 'up').map((n) => n.url);
        const missing = expected.filter((url) => !up.includes(url));
        if (missing.length) throw new Error(`${registry.name} does not list ${missing.join(', ')} as up`);
      }
      for (const node of nodes.filter((n) => n.running)) {
        const ready = await requestJson(`${node.url}/health/ready`);
        if (ready.status !== 200) throw new Error(`${node.name} is not ready: ${ready.status} ${JSON.stringify(ready.body)}`);
      }
    },
    { timeoutMs, intervalMs: 200, message: 'the cluster did not converge' },
  );
}

/** Stops the processes and removes their data dirs (kept when KEEP_TEST_DATA=1); for processes started on their own. */
export async function stopAndRemove(procs: ShoalProcess[]): Promise<void> {
  await Promise.all(procs.map((p) => p.stop()));
  await removeDirs([...new Set(procs.map((p) => p.dataDir))]);
}

async function removeDirs(dirs: string[]): Promise<void> {
  if (process.env.KEEP_TEST_DATA === '1') {
    process.stderr.write(`KEEP_TEST_DATA=1: kept ${dirs.join(' ')}\n`);
    return;
  }
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}
