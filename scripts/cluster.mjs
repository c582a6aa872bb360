#!/usr/bin/env node
// `npm run cluster`: a registry and N storage nodes on 127.0.0.1 for local use (DESIGN.md §5).
// Each child's JSON log goes to DATA/logs/<name>.log; the terminal gets a short summary (warnings, errors, exits).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = path.join(ROOT, 'dist', 'main.js');
const HOST = '127.0.0.1';
const STOP_TIMEOUT_MS = 10_000;
const TAIL_LINES = 20;
const START_TIMEOUT_S = 20;

const USAGE = `usage: npm run cluster -- [--nodes N] [--data DIR] [--registry-port PORT] [--base-port PORT] [--s3-base-port PORT]
  --nodes N              storage nodes to start (default 3)
  --data DIR             where the cluster keeps its state and logs (default ./data)
  --registry-port PORT   registry port (default 3000)
  --base-port PORT       node i listens on PORT+i (default 4000, so 4001..4000+N)
  --s3-base-port PORT    node i serves the S3 API on PORT+i (default 9000, so 9001..9000+N)
Environment such as LOG_LEVEL, API_TOKENS or SYNC_INTERVAL_MS is passed to every process.`;

/** Every child started (ServerProcess, src/tools/cluster/server-process.ts), so that any way out of this script can stop them. */
const children = [];
let ready = false;
let shuttingDown = false;
/** The shared spawner (src/tools/cluster/), loaded from the build once it is fresh. */
let spawner;

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

async function main() {
  const opts = parseOptions();
  buildIfStale();
  const tools = (file) => import(pathToFileURL(path.join(ROOT, 'dist', 'tools', 'cluster', file)).href);
  spawner = { ...(await tools('server-process.js')), ...(await tools('local-cluster.js')), ...(await tools('ports.js')) };
  mkdirSync(path.join(opts.dataDir, 'logs'), { recursive: true });
  const token = loadToken(opts.dataDir);
  const s3Key = loadS3Key(opts.dataDir);
  await assertPortsFree([opts.registryPort, ...opts.nodePorts, ...opts.s3Ports]);

  // Installed before the first spawn so that a Ctrl-C during start-up stops what already runs.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => void shutdown(sig));
  // Last resort (an unexpected error): the children are detached, so nothing else would stop them.
  process.on('exit', () => signalAll('SIGKILL'));

  const registryUrl = `http://${HOST}:${opts.registryPort}`;
  const n = opts.nodePorts.length;
  // Defaults that the user's environment may override; W+R>N holds for every N.
  const nodeDefaults = { REPLICATION_FACTOR: String(Math.min(3, n)), WRITE_QUORUM: String(Math.min(2, n)), READ_QUORUM: String(Math.min(2, n)) };
  // The generated key pair is the default; S3_ACCESS_KEYS from the shell replaces it.
  const s3Defaults = { S3_ACCESS_KEYS: `${s3Key.accessKeyId}:${s3Key.secret}` };
  // A NODE_ID from the shell would give every node the same identity; each node keeps its own in its data dir.
  // What the user's environment sets overrides the defaults; HOST, CLUSTER_TOKEN, ROLE and the URLs stay fixed.
  const { NODE_ID: _shared, ...userEnv } = process.env;

  try {
    const registry = startChild(spawner.registrySpec({ token, name: 'registry', port: opts.registryPort, dataDir: path.join(opts.dataDir, 'registry'), host: HOST, defaults: userEnv, launch: launch(opts) }));
    await waitLive(registry);
    const nodes = opts.nodePorts.map((port, i) =>
      startChild(
        spawner.nodeSpec({
          token,
          name: `node-${i + 1}`,
          port,
          dataDir: path.join(opts.dataDir, `node-${i + 1}`),
          host: HOST,
          registries: [{ url: registryUrl }],
          defaults: { ...nodeDefaults, ...s3Defaults, ...userEnv },
          env: { S3_PORT: String(opts.s3Ports[i]) },
          launch: launch(opts),
        }),
      ),
    );
    await Promise.all(nodes.map(waitLive));
  } catch (err) {
    if (!(err instanceof spawner.StartError)) throw err;
    if (shuttingDown) return; // the signal handler is already stopping everything and will exit
    const child = err.proc;
    const why = { exited: `stopped during start-up (${describeExit(await child.waitExit())})`, timeout: `did not answer GET ${child.url}/health/live within ${START_TIMEOUT_S} s`, interrupted: 'start-up interrupted' }[err.reason];
    console.error(`\n${child.name} ${why}. Last lines of ${child.logFile}:`);
    for (const line of child.logs().split('\n')) console.error(`  ${line}`);
    console.error('\nStopping the others.');
    await stopAll();
    process.exit(1);
  }
  if (shuttingDown) return;
  ready = true;
  printBanner(opts, registryUrl, token, s3Key);
}

function parseOptions() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        nodes: { type: 'string', default: '3' },
        data: { type: 'string', default: './data' },
        'registry-port': { type: 'string', default: '3000' },
        'base-port': { type: 'string', default: '4000' },
        's3-base-port': { type: 'string', default: '9000' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    fail(`${err.message}\n${USAGE}`);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const nodes = int('--nodes', values.nodes, 1, 100);
  const registryPort = int('--registry-port', values['registry-port'], 1, 65535);
  const basePort = int('--base-port', values['base-port'], 0, 65535 - nodes);
  const s3BasePort = int('--s3-base-port', values['s3-base-port'], 0, 65535 - nodes);
  const nodePorts = Array.from({ length: nodes }, (_, i) => basePort + i + 1);
  const s3Ports = Array.from({ length: nodes }, (_, i) => s3BasePort + i + 1);
  if (nodePorts.includes(registryPort)) fail(`--registry-port ${registryPort} collides with the node ports ${nodePorts[0]}..${basePort + nodes}`);
  if (s3Ports.some((p) => p === registryPort || nodePorts.includes(p))) fail(`the S3 ports ${s3Ports[0]}..${s3BasePort + nodes} collide with the registry or node ports; pick others with --s3-base-port`);
  return { dataDir: path.resolve(values.data), registryPort, nodePorts, s3Ports };
}

function int(name, raw, min, max) {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) fail(`${name} must be an integer between ${min} and ${max}, got '${raw}'\n${USAGE}`);
  return value;
}

function fail(message) {
  console.error(message);
  process.exit(1);
}

/** Runs `npm run build` when dist/main.js is missing or older than any file under src/. */
function buildIfStale() {
  const built = statSync(MAIN, { throwIfNoEntry: false })?.mtimeMs ?? 0;
  const src = path.join(ROOT, 'src');
  if (built && readdirSync(src, { recursive: true }).every((rel) => statSync(path.join(src, rel)).mtimeMs <= built)) return;
  console.log('Building (dist/main.js is missing or older than src/)…');
  const res = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit', shell: process.platform === 'win32' });
  if (res.status !== 0) fail(`npm run build failed (${res.error?.message ?? `exit ${res.status ?? res.signal}`})`);
}

/** One token per data directory, so nodes restarted later still talk to the registry that knows them. */
function loadToken(dataDir) {
  const file = path.join(dataDir, 'cluster-token');
  try {
    const token = readFileSync(file, 'utf8').trim();
    if (token) return token;
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
  const token = randomBytes(32).toString('hex');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600); // the mode above only applies when the file is created
  return token;
}

/** One S3 key pair per data directory (`s3-credentials`: ACCESS_KEY_ID:SECRET), generated on first start. */
function loadS3Key(dataDir) {
  const file = path.join(dataDir, 's3-credentials');
  try {
    const [accessKeyId, secret] = readFileSync(file, 'utf8').trim().split(':');
    if (accessKeyId && secret) return { accessKeyId, secret };
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
  // AWS-shaped: a 20-character upper-case id and a 40-character secret.
  const accessKeyId = `SHOAL${randomBytes(12).toString('hex').toUpperCase().slice(0, 15)}`;
  const secret = randomBytes(30).toString('base64').replace(/[+/]/g, 'x');
  writeFileSync(file, `${accessKeyId}:${secret}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { accessKeyId, secret };
}

/** Fails early: otherwise a cluster left running would answer our health checks in place of the new children. */
async function assertPortsFree(ports) {
  const busy = [];
  for (const port of ports) if (!(await spawner.portFree(port, HOST))) busy.push(port);
  if (busy.length) fail(`port ${busy.join(', ')} on ${HOST} is already in use (another cluster still running?); pick others with --registry-port / --base-port`);
}

/** How every child is launched: its log in DATA/logs/<name>.log, the last lines kept for a report, in its own group. */
function launch(opts) {
  return {
    logDir: path.join(opts.dataDir, 'logs'),
    tailLines: TAIL_LINES,
    // Own process group: a terminal Ctrl-C reaches only this script, which then stops the children with SIGTERM.
    detached: true,
    startTimeoutMs: START_TIMEOUT_S * 1000,
  };
}

function startChild(spec) {
  writeFileSync(spec.logFile, ''); // a fresh log per start of the cluster
  const child = new spawner.ServerProcess({ ...spec, hooks: { line: (line) => summarise(spec.name, line) } });
  child.spawn();
  children.push(child);
  void child.waitExit().then(() => {
    if (ready && !shuttingDown) reportDeath(child);
  });
  const rel = path.relative(process.cwd(), child.logFile);
  console.log(`started ${child.name.padEnd(9)} pid ${child.pid} on ${child.url}  (log: ${rel.startsWith('..') ? child.logFile : rel})`);
  return child;
}

function describeExit(exit) {
  return exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
}

/** Shows warnings and errors from a child's JSON log as one readable line each. */
function summarise(name, line) {
  let entry;
  try {
    entry = JSON.parse(line);
  } catch {
    return; // not a JSON log line (e.g. a stack trace on stderr): it stays in the log file and the tail
  }
  const level = entry.level >= 60 ? 'FATAL' : entry.level >= 50 ? 'ERROR' : entry.level >= 40 ? 'WARN' : undefined;
  if (!level) return;
  const context = entry.context ? `[${entry.context}] ` : '';
  const cause = typeof entry.err === 'string' ? entry.err : entry.err?.message;
  const err = cause ? ` (${cause})` : '';
  console.log(`${name.padEnd(9)} ${level.padEnd(5)} ${context}${entry.msg ?? ''}${err}`);
}

function reportDeath(child) {
  console.error(`\n${child.name} stopped unexpectedly (${describeExit(child.exitInfo)}); the others keep running. Last lines of ${child.logFile}:`);
  for (const line of child.logs().split('\n').slice(-10)) console.error(`  ${line}`);
  if (children.every((c) => c.exitInfo)) {
    console.error('Every process has stopped.');
    process.exit(1);
  }
}

function waitLive(child) {
  return child.waitLive(() => shuttingDown);
}

function printBanner(opts, registryUrl, token, s3Key) {
  const nodes = children.filter((c) => c.name !== 'registry');
  const first = nodes[0].url;
  const clientToken = process.env.API_TOKENS?.split(',')[0]?.trim();
  const auth = clientToken ? ` -H 'Authorization: Bearer ${clientToken}'` : '';
  const lines = [
    '',
    `Shoal is up: a registry and ${nodes.length} node${nodes.length > 1 ? 's' : ''}; state and logs under ${opts.dataDir}`,
    '',
    'Swagger UI',
    `  registry   ${registryUrl}/docs`,
    ...nodes.map((c) => `  ${c.name.padEnd(10)} ${c.url}/docs`),
    `Status page  ${registryUrl}/`,
    `Cluster token  ${token}  (kept in ${path.join(opts.dataDir, 'cluster-token')})`,
    '',
    'Try',
    `  curl${auth} -T file ${first}/v1/files/hello.txt`,
    `  SHOAL_URL=${first}${clientToken ? ` SHOAL_TOKEN=${clientToken}` : ''} npx shoal ls`,
    '',
    `S3 API       ${opts.s3Ports.map((p) => `http://${HOST}:${p}`).join('  ')}  (region ${process.env.S3_REGION || 'us-east-1'})`,
    ...(process.env.S3_ACCESS_KEYS
      ? ['  keys from S3_ACCESS_KEYS']
      : [
          `  export AWS_ACCESS_KEY_ID=${s3Key.accessKeyId} AWS_SECRET_ACCESS_KEY=${s3Key.secret} AWS_DEFAULT_REGION=${process.env.S3_REGION || 'us-east-1'}`,
          `  (kept in ${path.join(opts.dataDir, 's3-credentials')})`,
        ]),
    `  aws --endpoint-url http://${HOST}:${opts.s3Ports[0]} s3 mb s3://demo`,
    `  aws --endpoint-url http://${HOST}:${opts.s3Ports[0]} s3 ls`,
    '',
    'Ctrl-C stops the cluster.',
  ];
  console.log(lines.join('\n'));
}

async function shutdown(signal) {
  // A second signal is ignored: `npm run` forwards Ctrl-C while the terminal also delivers it, so one key press
  // arrives twice. The SIGKILL deadline in stopAll bounds the wait anyway.
  if (shuttingDown) return;
  shuttingDown = true;
  console.log(`\n${signal}: stopping ${children.filter((c) => c.running).length} processes (SIGKILL after ${STOP_TIMEOUT_MS / 1000} s)…`);
  await stopAll();
  console.log('All stopped.');
  process.exit(0);
}

/** Nodes first, so that they can still reach the registry to leave; the registry last. SIGKILL after 10 s. */
async function stopAll() {
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  const stop = (c) => c.stop(Math.max(0, deadline - Date.now()), () => console.error(`${c.name} did not stop in time: SIGKILL`));
  await Promise.all(children.filter((c) => c.name !== 'registry').map(stop));
  await Promise.all(children.map(stop));
}

function signalAll(signal) {
  for (const c of children) if (c.running) c.kill(signal);
}
