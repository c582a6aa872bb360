// A Shoal cluster (1 registry + n nodes) that a benchmark can pause, kill and restart node by node, plus small readers
// for what the nodes expose (/metrics, /v1/node) and for CPU use (/proc). Used by bench/sync.mjs; targets.mjs is the
// simpler one-shot variant used by bench/run.mjs.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { startProcess, stopProcess, waitFor } from './proc.mjs';
import { LOOPBACK, httpRequest, makeTempDir, removeDir, sleep } from './util.mjs';

/** The kernel's ephemeral port range (outgoing connections take local ports from it). */
function ephemeralRange() {
  try {
    const [lo, hi] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo > 0 && hi >= lo) return [lo, hi];
  } catch {
    /* not Linux */
  }
  return [32768, 60999];
}

function canBind(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, LOOPBACK, () => srv.close(() => resolve(true)));
  });
}

/**
 * A free loopback port *outside* the ephemeral range: a node restarted on its old port must find it free again, and
 * a port from freePort() (bind to 0, which picks an ephemeral one) can meanwhile be taken by any outgoing connection.
 */
export async function stablePort() {
  const [lo] = ephemeralRange();
  const min = 10000;
  const max = Math.max(min + 1000, lo - 1);
  for (let i = 0; i < 200; i++) {
    const port = min + crypto.randomInt(max - min);
    if (await canBind(port)) return port;
  }
  throw new Error(`no free port found in [${min}, ${max}] after 200 tries`);
}

/** Environment for child servers: only what a process needs (as targets.mjs does). */
function baseEnv() {
  const env = {};
  for (const k of ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR']) if (process.env[k] !== undefined) env[k] = process.env[k];
  return env;
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
 * Starts a registry and `nodes` nodes on free loopback ports.
 *   ctx: { runDir, logDir, logLevel, keep }
 *   opts: { name, mainJs, cwd, nodes, n, w, r, nodeEnv, registryEnv }
 * Returns a Cluster: nodes[i] = { name, url, port, dir, env, svc }, and pause/resume/kill/restart/stop.
 */
export async function startCluster(ctx, { name, mainJs, cwd, nodes = 3, n = 3, w = 2, r = 2, nodeEnv = {}, registryEnv = {} }) {
  const token = crypto.randomBytes(24).toString('hex');
  const cluster = new Cluster(ctx, name, mainJs, cwd);
  try {
    const regPort = await stablePort();
    const regDir = makeTempDir(`${name}-registry`, ctx.runDir);
    cluster.dirs.push(regDir);
    cluster.registryUrl = `http://${LOOPBACK}:${regPort}`;
    cluster.registry = startProcess('registry', process.execPath, [mainJs], {
      cwd,
      logFile: path.join(ctx.logDir, `${name}-registry.log`),
      inheritEnv: false,
      env: { ...baseEnv(), ROLE: 'registry', PORT: String(regPort), HOST: LOOPBACK, CLUSTER_TOKEN: token, DATA_DIR: regDir, LOG_LEVEL: ctx.logLevel, ...registryEnv },
    });
    await waitFor(`${cluster.registryUrl}/health/ready`, { timeoutMs: 60000, watch: [cluster.registry] });
    for (let i = 1; i <= nodes; i++) {
      const port = await stablePort();
      const dir = makeTempDir(`${name}-node${i}`, ctx.runDir);
      cluster.dirs.push(dir);
      const url = `http://${LOOPBACK}:${port}`;
      const env = {
        ...baseEnv(),
        ROLE: 'node',
        PORT: String(port),
        HOST: LOOPBACK,
        CLUSTER_TOKEN: token,
        REGISTRY_URL: cluster.registryUrl,
        ADVERTISE_URL: url,
        DATA_DIR: dir,
        REPLICATION_FACTOR: String(n),
        WRITE_QUORUM: String(w),
        READ_QUORUM: String(r),
        LOG_LEVEL: ctx.logLevel,
        ...nodeEnv,
      };
      const node = { name: `node${i}`, index: i - 1, url, port, dir, env, svc: null, starts: 0 };
      cluster.nodes.push(node);
      cluster.spawn(node);
    }
    for (const node of cluster.nodes) {
      await waitFor(`${node.url}/health/ready`, { timeoutMs: 90000, watch: cluster.services() });
      node.id = (await nodeInfo(node.url)).id;
    }
    await cluster.waitAllSeeAllUp(60000);
    return cluster;
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

class Cluster {
  constructor(ctx, name, mainJs, cwd) {
    this.ctx = ctx;
    this.name = name;
    this.mainJs = mainJs;
    this.cwd = cwd;
    this.dirs = [];
    this.nodes = [];
    this.registry = null;
    this.registryUrl = null;
    this.paused = new Set();
  }

  services() {
    return [this.registry, ...this.nodes.map((n) => n.svc)].filter(Boolean);
  }

  /** Live node pids (for CPU accounting). */
  pids() {
    return this.nodes.filter((n) => n.svc && !n.svc.exitInfo).map((n) => n.svc.pid);
  }

  spawn(node) {
    node.starts++;
    node.svc = startProcess(node.name, process.execPath, [this.mainJs], {
      cwd: this.cwd,
      logFile: path.join(this.ctx.logDir, `${this.name}-${node.name}.log`),
      env: node.env,
      inheritEnv: false,
    });
    return node.svc;
  }

  /** SIGSTOP: the process stays, answers nothing, misses its heartbeats. */
  pause(node) {
    node.svc.child.kill('SIGSTOP');
    this.paused.add(node);
  }

  resume(node) {
    node.svc.child.kill('SIGCONT');
    this.paused.delete(node);
  }

  /** SIGKILL and wait for the exit (bounded). */
  async kill(node) {
    this.paused.delete(node);
    node.svc.child.kill('SIGKILL');
    await Promise.race([node.svc.exited, sleep(10000)]);
  }

  /** Starts the node again on the same port, data dir and environment (so the same NODE_ID from DATA_DIR/node-id). */
  restart(node) {
    if (node.svc && !node.svc.exitInfo) throw new Error(`${node.name} is still running`);
    return this.spawn(node);
  }

  /** SIGTERM (then SIGKILL after a grace period) and wait for the exit. */
  async stopNode(node) {
    this.paused.delete(node);
    await stopProcess(node.svc);
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

  /** Stops everything (paused nodes are resumed first so that SIGTERM can act), removes the data dirs unless keep. */
  async stop() {
    for (const node of this.paused) {
      try {
        node.svc.child.kill('SIGCONT');
      } catch {
        /* gone */
      }
    }
    this.paused.clear();
    for (const s of [...this.nodes.map((n) => n.svc)].reverse()) if (s) await stopProcess(s);
    if (this.registry) await stopProcess(this.registry);
    if (!this.ctx.keep) this.dirs.forEach(removeDir);
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
