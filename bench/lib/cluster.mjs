// A Shoal cluster (1 registry + n nodes, through the shared spawner in src/tools/cluster) that a benchmark can pause,
// kill and restart node by node, plus small readers for what the nodes expose (/metrics, /v1/node) and for CPU use
// (/proc). Used by bench/sync.mjs, and by targets.mjs for the Shoal scenarios of bench/run.mjs and bench/small.mjs.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { execFileSync } from 'node:child_process';
import { trackPid, untrackPid, waitFor } from './proc.mjs';
import { httpRequest, makeTempDir, sleep } from './util.mjs';

const REPO = path.dirname(path.dirname(path.dirname(new URL(import.meta.url).pathname)));

/** Environment for child servers: only what a process needs, so a stray PORT/API_TOKENS in the shell leaks in nowhere. */
function baseEnv() {
  const env = {};
  for (const k of ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR']) if (process.env[k] !== undefined) env[k] = process.env[k];
  return env;
}

/** The shared spawner (src/tools/cluster/), from this checkout's build; it can start another checkout's main.js. */
export async function loadSpawner() {
  const dir = path.join(REPO, 'dist', 'tools', 'cluster');
  if (!fs.existsSync(path.join(dir, 'local-cluster.js'))) throw new Error(`${dir}/local-cluster.js does not exist: run \`npm run build\` first`);
  const load = (file) => import(pathToFileURL(path.join(dir, file)).href);
  return { ...(await load('server-process.js')), ...(await load('local-cluster.js')), ...(await load('ports.js')) };
}

/**
 * Copies repoDir/dist and package.json into destDir and links node_modules, so that a rebuild of the shared checkout
 * during a long run (other people run `npm test`, which builds) cannot change the code under test half-way.
 * Returns the path of the copied main.js.
 */
export function snapshotApp(repoDir, destDir) {
  const src = path.join(repoDir, 'dist');
  if (!fs.existsSync(path.join(src, 'main.js'))) throw new Error(`${src}/main.js does not exist: run \`npm run build\` first`);
  fs.mkdirSync(destDir, { recursive: true });
  fs.cpSync(src, path.join(destDir, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(repoDir, 'package.json'), path.join(destDir, 'package.json'));
  fs.symlinkSync(path.join(repoDir, 'node_modules'), path.join(destDir, 'node_modules'), 'dir');
  return path.join(destDir, 'dist', 'main.js');
}

/**
 * Starts a registry and `nodes` nodes through the shared spawner and waits until every node sees every other up.
 *   ctx: { runDir, logDir, logLevel, keep }
 *   opts: { name, mainJs, cwd, nodes, n, w, r, nodeEnv, registryEnv, nodeFlags (default the spawner's),
 *           stablePorts (default true: ports outside the ephemeral range, so that a restarted node finds its port) }
 * Returns a Cluster: nodes[i] = { name (node1, node2 …), index, url, port, dir, env, svc, id }, and
 * pause/resume/kill/restart/stop. Children log straight to ctx.logDir/<name>-<process>.log.
 */
export async function startCluster(ctx, { name, mainJs, cwd, nodes = 3, n = 3, w = 2, r = 2, nodeEnv = {}, registryEnv = {}, nodeFlags, stablePorts = true }) {
  const spawner = await loadSpawner();
  const inner = await spawner.startCluster({
    nodes,
    registryDefaults: { LOG_LEVEL: ctx.logLevel },
    registryEnv,
    nodeDefaults: { REPLICATION_FACTOR: String(n), WRITE_QUORUM: String(w), READ_QUORUM: String(r), LOG_LEVEL: ctx.logLevel },
    nodeEnv,
    portOf: stablePorts ? () => spawner.stablePort() : undefined,
    dataDirOf: (proc) => makeTempDir(`${name}-${proc}`, ctx.runDir),
    membershipTimeoutMs: 60000,
    launch: {
      baseEnv: baseEnv(),
      main: mainJs,
      cwd,
      nodeFlags,
      logDir: ctx.logDir,
      logPrefix: `${name}-`,
      directLog: true,
      startTimeoutMs: 90000,
      keepData: ctx.keep,
      hooks: { spawned: trackPid, exited: untrackPid },
    },
  });
  const cluster = new Cluster(inner);
  try {
    for (const node of cluster.nodes) node.id = (await nodeInfo(node.url)).id;
    await cluster.waitAllSeeAllUp(60000);
    return cluster;
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

class Cluster {
  constructor(inner) {
    this.inner = inner;
    this.registry = inner.registry;
    this.registryUrl = inner.registry.url;
    this.nodes = inner.nodes.map((svc, i) => ({ name: `node${i + 1}`, index: i, url: svc.url, port: svc.port, dir: svc.dataDir, env: svc.env, svc }));
    this.paused = new Set();
  }

  services() {
    return [this.registry, ...this.nodes.map((n) => n.svc)];
  }

  /** Live node pids (for CPU accounting). */
  pids() {
    return this.nodes.filter((n) => !n.svc.exitInfo).map((n) => n.svc.pid);
  }

  /** SIGSTOP: the process stays, answers nothing, misses its heartbeats. */
  pause(node) {
    node.svc.kill('SIGSTOP');
    this.paused.add(node);
  }

  resume(node) {
    node.svc.kill('SIGCONT');
    this.paused.delete(node);
  }

  /** SIGKILL and wait for the exit (bounded). */
  async kill(node) {
    this.paused.delete(node);
    node.svc.kill('SIGKILL');
    await Promise.race([node.svc.waitExit(), sleep(10000)]);
  }

  /** Starts the node again on the same port, data dir and environment (so the same NODE_ID from DATA_DIR/node-id). */
  restart(node) {
    if (node.svc.running) throw new Error(`${node.name} is still running`);
    node.svc.spawn();
    return node.svc;
  }

  /** SIGTERM (then SIGKILL after a grace period) and wait for the exit. */
  async stopNode(node) {
    this.paused.delete(node);
    await node.svc.stop(8000);
  }

  async waitReady(node, timeoutMs = 90000) {
    await waitFor(`${node.url}/health/ready`, { timeoutMs, watch: this.services() });
  }

  /** Waits until every running, unpaused node lists `count` members, all up. */
  async waitAllSeeAllUp(timeoutMs) {
    const want = this.nodes.length;
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      const infos = await Promise.all(this.nodes.map((nd) => nodeInfo(nd.url).catch((e) => ({ error: e.message }))));
      const ok = infos.every((j) => Array.isArray(j.members) && j.members.filter((m) => m.status === 'up').length >= want && j.state === 'ready');
      if (ok) return;
      last = infos.map((j) => (j.error ? j.error : `${j.state} ${j.members?.map((m) => m.status).join('/')}`)).join('; ');
      await sleep(250);
    }
    throw new Error(`not every node sees ${want} members up after ${timeoutMs} ms: ${last}`);
  }

  /** Waits until each of `observers` sees `target` with a status other than `up` (or `up`, when wantUp). */
  async waitSeen(target, observers, { wantUp, timeoutMs }) {
    const deadline = Date.now() + timeoutMs;
    const targetId = target.id;
    while (Date.now() < deadline) {
      const infos = await Promise.all(observers.map((o) => nodeInfo(o.url).catch(() => null)));
      const seen = infos.map((j) => j?.members?.find((m) => m.id === targetId || m.url === target.url)?.status);
      if (seen.every((s) => (wantUp ? s === 'up' : s !== undefined && s !== 'up'))) return seen;
      await sleep(100);
    }
    throw new Error(`${target.name} not seen ${wantUp ? 'up' : 'down'} by ${observers.map((o) => o.name).join(',')} within ${timeoutMs} ms`);
  }

  /** Stops everything (a stop resumes a paused process first, so that SIGTERM can act), removes the data dirs unless keep. */
  async stop() {
    this.paused.clear();
    await this.inner.stop();
  }
}

// ---------------------------------------------------------------- reading the nodes

export async function nodeInfo(url, timeoutMs = 5000) {
  const res = await httpRequest(`${url}/v1/node`, { timeoutMs });
  if (res.status !== 200) throw new Error(`GET ${url}/v1/node: HTTP ${res.status}`);
  return JSON.parse(res.body.toString('utf8'));
}

/** Prometheus text → [{name, labels, value}] (comments skipped). */
export function parseProm(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const lm of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2].replace(/\\(.)/g, '$1');
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

export async function scrape(url, timeoutMs = 10000) {
  const res = await httpRequest(`${url}/metrics`, { timeoutMs });
  if (res.status !== 200) throw new Error(`GET ${url}/metrics: HTTP ${res.status}`);
  return parseProm(res.body.toString('utf8'));
}

/** Sum of the samples named `name` whose labels match every entry of `where` (a value or a predicate). */
export function metricSum(samples, name, where = {}) {
  let s = 0;
  for (const x of samples) {
    if (x.name !== name) continue;
    let ok = true;
    for (const [k, v] of Object.entries(where)) {
      const have = x.labels[k];
      if (typeof v === 'function' ? !v(have) : have !== v) {
        ok = false;
        break;
      }
    }
    if (ok) s += x.value;
  }
  return s;
}

// ---------------------------------------------------------------- CPU accounting (Linux /proc)

let clkTck = null;
function ticksPerSec() {
  if (clkTck === null) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** CPU seconds (user+system) used so far by pid, or null when it is gone. */
export function procCpuSec(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / ticksPerSec(); // utime, stime (fields 14, 15)
  } catch {
    return null;
  }
}

/** Whole-machine CPU seconds: {busy, total} summed over all cores (from /proc/stat). */
export function machineCpuSec() {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle + iowait
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0); // guest time is already in user
    return { busy: (total - idle) / ticksPerSec(), total: total / ticksPerSec() };
  } catch {
    return { busy: NaN, total: NaN };
  }
}

export function loadAvg() {
  try {
    return fs.readFileSync('/proc/loadavg', 'utf8').trim().split(/\s+/).slice(0, 3).map(Number);
  } catch {
    return [NaN, NaN, NaN];
  }
}

/**
 * A CPU window: how busy the machine was, how much of it was the given pids (the nodes under test) and this process
 * (the load generator), and so how much was someone else's.
 */
export class CpuWindow {
  constructor(getPids) {
    this.getPids = getPids;
    this.t0 = Date.now();
    this.m0 = machineCpuSec();
    this.self0 = process.cpuUsage();
    this.p0 = new Map(getPids().map((p) => [p, procCpuSec(p)]));
  }

  end() {
    const secs = (Date.now() - this.t0) / 1000;
    const m1 = machineCpuSec();
    const self = process.cpuUsage(this.self0);
    let nodes = 0;
    const perPid = {};
    for (const [pid, c0] of this.p0) {
      const c1 = procCpuSec(pid);
      if (c0 === null || c1 === null) continue;
      perPid[pid] = (c1 - c0) / secs;
      nodes += c1 - c0;
    }
    const busy = m1.busy - this.m0.busy;
    const bench = (self.user + self.system) / 1e6;
    return {
      seconds: secs,
      machineBusyCores: busy / secs,
      nodesCores: nodes / secs,
      perPidCores: perPid,
      benchCores: bench / secs,
      othersCores: Math.max(0, (busy - nodes - bench) / secs),
      loadavg: loadAvg(),
    };
  }
}
