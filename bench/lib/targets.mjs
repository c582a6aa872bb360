// The servers under test. Each start*() returns
//   { name, baseUrl (file API root, e.g. http://127.0.0.1:PORT/v1/files/), pids() -> number[] measured for RSS,
//     rssLabel, info, stop() }
// or throws SkipError when the scenario cannot run on this machine.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { startProcess, stopProcess, waitFor } from './proc.mjs';
import { childPids } from './rss.mjs';
import { LOOPBACK, freePort, httpRequest, makeTempDir, removeDir, sleep } from './util.mjs';

export class SkipError extends Error {}

const BENCH_DIR = path.dirname(path.dirname(new URL(import.meta.url).pathname));

/** Environment for child servers: only what a process needs, so a stray PORT/API_TOKENS in the shell leaks in nowhere. */
function baseEnv() {
  const env = {};
  for (const k of ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR']) if (process.env[k] !== undefined) env[k] = process.env[k];
  return env;
}

// ---------------------------------------------------------------- ceiling
export async function startCeiling(ctx) {
  const dir = makeTempDir('ceiling', ctx.runDir);
  const port = await freePort();
  const logFile = path.join(ctx.logDir, 'ceiling.log');
  const svc = startProcess('ceiling-server', process.execPath, [path.join(BENCH_DIR, 'ceiling-server.mjs'), '--port', String(port), '--host', LOOPBACK, '--dir', dir], {
    logFile,
  });
  const base = `http://${LOOPBACK}:${port}`;
  try {
    await waitFor(`${base}/health/ready`, { timeoutMs: 15000, watch: [svc] });
  } catch (err) {
    await stopProcess(svc);
    removeDir(dir);
    throw err;
  }
  return {
    name: 'ceiling',
    baseUrl: `${base}/v1/files/`,
    pids: () => (svc.exitInfo ? [] : [svc.pid]),
    rssLabel: '1 process',
    services: [svc],
    info: { pid: svc.pid, dir, logFile },
    async stop() {
      await stopProcess(svc);
      if (!ctx.keep) removeDir(dir);
    },
  };
}

// ---------------------------------------------------------------- Shoal
function countMembers(json) {
  // The shape of GET /v1/node is not fixed by DESIGN.md beyond "membership it sees": find the largest array of
  // objects that look like nodes (have url or id) anywhere in the document.
  let best = -1;
  const visit = (v, depth) => {
    if (depth > 6 || v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      if (v.length && v.every((x) => x && typeof x === 'object' && ('url' in x || 'id' in x))) best = Math.max(best, v.length);
      v.forEach((x) => visit(x, depth + 1));
      return;
    }
    for (const x of Object.values(v)) visit(x, depth + 1);
  };
  visit(json, 0);
  return best; // -1 when no node list was found
}

function upNodesInRegistry(json) {
  const list = Array.isArray(json) ? json : (json?.nodes ?? json?.items ?? []);
  return Array.isArray(list) ? list.filter((n) => (n?.status ?? 'up') === 'up').length : 0;
}

export async function startShoal(ctx, { nodes, n, w, r, name }) {
  const main = path.join(ctx.repoDir, 'dist', 'main.js');
  if (!fs.existsSync(main)) throw new SkipError(`${main} does not exist: run \`npm run build\` first`);
  // The flags that checkout starts its servers with (none for a build older than src/tools/server-flags.ts).
  const flagsJs = path.join(ctx.repoDir, 'dist', 'tools', 'server-flags.js');
  const flags = fs.existsSync(flagsJs) ? (await import(flagsJs)).SERVER_NODE_FLAGS : [];
  const token = crypto.randomBytes(24).toString('hex');
  const dirs = [];
  const services = [];
  const logLevel = ctx.logLevel;
  const stopAll = async () => {
    // nodes first (they may say goodbye to the registry), then the registry
    for (const s of [...services].reverse()) await stopProcess(s);
    if (!ctx.keep) dirs.forEach(removeDir);
  };
  try {
    const regPort = await freePort();
    const regDir = makeTempDir(`${name}-registry`, ctx.runDir);
    dirs.push(regDir);
    const registryUrl = `http://${LOOPBACK}:${regPort}`;
    const registry = startProcess('registry', process.execPath, [...flags, main], {
      cwd: ctx.repoDir,
      logFile: path.join(ctx.logDir, `${name}-registry.log`),
      inheritEnv: false,
      env: { ...baseEnv(), ROLE: 'registry', PORT: String(regPort), HOST: LOOPBACK, CLUSTER_TOKEN: token, DATA_DIR: regDir, LOG_LEVEL: logLevel },
    });
    services.push(registry);
    await waitFor(`${registryUrl}/health/ready`, { timeoutMs: 60000, watch: [registry] });

    const nodeSvcs = [];
    const nodeUrls = [];
    for (let i = 1; i <= nodes; i++) {
      const port = await freePort();
      const dir = makeTempDir(`${name}-node${i}`, ctx.runDir);
      dirs.push(dir);
      const url = `http://${LOOPBACK}:${port}`;
      const env = {
        ...baseEnv(),
        ROLE: 'node',
        PORT: String(port),
        HOST: LOOPBACK,
        CLUSTER_TOKEN: token,
        REGISTRY_URL: registryUrl,
        ADVERTISE_URL: url,
        DATA_DIR: dir,
        REPLICATION_FACTOR: String(n),
        WRITE_QUORUM: String(w),
        READ_QUORUM: String(r),
        LOG_LEVEL: logLevel,
        ...ctx.shoalEnv,
      };
      const svc = startProcess(`node${i}`, process.execPath, [...flags, main], { cwd: ctx.repoDir, logFile: path.join(ctx.logDir, `${name}-node${i}.log`), env, inheritEnv: false });
      services.push(svc);
      nodeSvcs.push(svc);
      nodeUrls.push(url);
    }
    for (let i = 0; i < nodes; i++) await waitFor(`${nodeUrls[i]}/health/ready`, { timeoutMs: 90000, watch: services });

    const notes = [];
    if (nodes > 1) {
      // every node registered and up at the registry ...
      await waitFor(`${registryUrl}/v1/nodes`, {
        timeoutMs: 60000,
        watch: services,
        predicate: (res) => {
          try {
            return res.status === 200 && upNodesInRegistry(JSON.parse(res.body.toString('utf8'))) >= nodes;
          } catch {
            return false;
          }
        },
      });
      // ... and node 1 (the coordinator for all traffic) sees all of them
      const deadline = Date.now() + 30000;
      let seen = -1;
      while (Date.now() < deadline) {
        try {
          const res = await httpRequest(`${nodeUrls[0]}/v1/node`, { timeoutMs: 2000 });
          if (res.status === 200) seen = countMembers(JSON.parse(res.body.toString('utf8')));
        } catch {
          /* retry */
        }
        if (seen >= nodes || seen === -1) break;
        await sleep(250);
      }
      if (seen === -1) {
        notes.push('could not read the membership from GET /v1/node; waited one heartbeat period extra instead');
        await sleep(+(ctx.shoalEnv.HEARTBEAT_INTERVAL_MS ?? 2000) * 2);
      } else if (seen < nodes) {
        notes.push(`GET /v1/node on node 1 still lists ${seen} node(s) after 30 s, expected ${nodes} (shape guessed; see the PUT's replicas)`);
      }
    }
    // what node 1 says about itself (members seen, effective quorums), for the log
    let nodeInfo = null;
    try {
      const res = await httpRequest(`${nodeUrls[0]}/v1/node`, { timeoutMs: 2000 });
      if (res.status === 200) {
        const j = JSON.parse(res.body.toString('utf8'));
        nodeInfo = { members: countMembers(j), quorums: j.quorums ?? null, state: j.state ?? null };
      }
    } catch {
      /* informational only */
    }
    return {
      name,
      baseUrl: `${nodeUrls[0]}/v1/files/`,
      pids: () => nodeSvcs.filter((s) => !s.exitInfo).map((s) => s.pid),
      rssLabel: nodes > 1 ? `sum of ${nodes} node processes' peaks (registry excluded)` : '1 node process (registry excluded)',
      services,
      info: { registryUrl, nodeUrls, pids: services.map((s) => `${s.name}=${s.pid}`), dirs, notes, nodeInfo },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

// ---------------------------------------------------------------- nginx + WebDAV
const NGINX = '/usr/sbin/nginx';
const DAV_EXT = '/usr/lib/nginx/modules/ngx_http_dav_ext_module.so';

function userExists(name) {
  try {
    execFileSync('getent', ['passwd', name], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

export async function startNginx(ctx) {
  if (!fs.existsSync(NGINX)) {
    throw new SkipError(`${NGINX} not found; to include this scenario: apt-get update && apt-get install -y nginx libnginx-mod-http-dav-ext`);
  }
  const dir = makeTempDir('nginx', ctx.runDir);
  const root = path.join(dir, 'root');
  fs.mkdirSync(root);
  const isRoot = process.getuid?.() === 0;
  const asWwwData = isRoot && userExists('www-data');
  if (asWwwData) {
    const uid = +execFileSync('id', ['-u', 'www-data'], { encoding: 'utf8' }).trim();
    const gid = +execFileSync('id', ['-g', 'www-data'], { encoding: 'utf8' }).trim();
    fs.chownSync(root, uid, gid);
  }
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  const t = (p) => path.join(dir, p);
  fs.writeFileSync(
    conf,
    `# generated by bench/lib/targets.mjs
${asWwwData ? 'user www-data;' : '# not root: workers run as the current user'}
worker_processes auto;
pid ${t('nginx.pid')};
error_log ${t('error.log')} warn;
${fs.existsSync(DAV_EXT) ? `load_module ${DAV_EXT};` : '# dav-ext module not installed (PUT/GET need only the built-in dav module)'}
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  # temp paths on the same filesystem as root, so a finished PUT is a rename
  client_body_temp_path ${t('client_body_temp')};
  proxy_temp_path ${t('proxy_temp')};
  fastcgi_temp_path ${t('fastcgi_temp')};
  uwsgi_temp_path ${t('uwsgi_temp')};
  scgi_temp_path ${t('scgi_temp')};
  server {
    listen ${LOOPBACK}:${port};
    root ${root};
    client_max_body_size 0;
    location = /health/ready { default_type text/plain; return 200 "ok\\n"; }
    location / {
      dav_methods PUT;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
    }
  }
}
`,
  );
  const logFile = path.join(ctx.logDir, 'nginx.log');
  const svc = startProcess('nginx', NGINX, ['-c', conf, '-p', dir, '-e', t('error.log'), '-g', 'daemon off;'], { logFile });
  const base = `http://${LOOPBACK}:${port}`;
  try {
    await waitFor(`${base}/health/ready`, { timeoutMs: 15000, watch: [svc] });
  } catch (err) {
    await stopProcess(svc);
    fs.appendFileSync(logFile, fs.existsSync(t('error.log')) ? fs.readFileSync(t('error.log')) : '');
    if (!ctx.keep) removeDir(dir);
    throw err;
  }
  return {
    name: 'nginx',
    baseUrl: `${base}/v1/files/`,
    pids: () => (svc.exitInfo ? [] : [svc.pid, ...childPids(svc.pid)]),
    rssLabel: `sum of master + ${os.availableParallelism?.() ?? os.cpus().length} workers' peaks`,
    services: [svc],
    info: { pid: svc.pid, dir, conf, user: asWwwData ? 'www-data' : 'current' },
    async stop() {
      await stopProcess(svc);
      try {
        fs.appendFileSync(logFile, fs.readFileSync(t('error.log')));
      } catch {
        /* none */
      }
      if (!ctx.keep) removeDir(dir);
    },
  };
}
