#!/usr/bin/env node
// `npm run cluster`: a registry and N storage nodes on 127.0.0.1 for local use (DESIGN.md §5).
// Each child's JSON log goes to DATA/logs/<name>.log; the terminal gets a short summary (warnings, errors, exits).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, createWriteStream, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = path.join(ROOT, 'dist', 'main.js');
const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;
const TAIL_LINES = 20;

const USAGE = `usage: npm run cluster -- [--nodes N] [--data DIR] [--registry-port PORT] [--base-port PORT] [--s3-base-port PORT]
  --nodes N              storage nodes to start (default 3)
  --data DIR             where the cluster keeps its state and logs (default ./data)
  --registry-port PORT   registry port (default 3000)
  --base-port PORT       node i listens on PORT+i (default 4000, so 4001..4000+N)
  --s3-base-port PORT    node i serves the S3 API on PORT+i (default 9000, so 9001..9000+N)
Environment such as LOG_LEVEL, API_TOKENS or SYNC_INTERVAL_MS is passed to every process.`;

/** Every child started, so that any way out of this script can stop them. */
const children = [];
let ready = false;
let shuttingDown = false;
/** The flags every server process starts with (src/tools/server-flags.ts), read from the build once it is fresh. */
let serverFlags = [];

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

async function main() {
  const opts = parseOptions();
  buildIfStale();
  serverFlags = (await import(path.join(ROOT, 'dist', 'tools', 'server-flags.js'))).SERVER_NODE_FLAGS;
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
  const fixed = { HOST, CLUSTER_TOKEN: token };
  // The generated key pair is the default; S3_ACCESS_KEYS from the shell replaces it.
  const s3Defaults = { S3_ACCESS_KEYS: `${s3Key.accessKeyId}:${s3Key.secret}` };
  // A NODE_ID from the shell would give every node the same identity; each node keeps its own in its data dir.
  const { NODE_ID: _shared, ...userEnv } = process.env;

  try {
    const registry = startChild('registry', opts, opts.registryPort, { ...userEnv, ...fixed, ROLE: 'registry' });
    await waitLive(registry);
    const nodes = opts.nodePorts.map((port, i) =>
      startChild(`node-${i + 1}`, opts, port, {
        ...nodeDefaults,
        ...s3Defaults,
        ...userEnv,
        ...fixed,
        S3_PORT: String(opts.s3Ports[i]),
        ROLE: 'node',
        REGISTRY_URL: registryUrl,
        ADVERTISE_URL: `http://${HOST}:${port}`,
      }),
    );
    await Promise.all(nodes.map(waitLive));
  } catch (err) {
    if (!(err instanceof StartError)) throw err;
    if (shuttingDown) return; // the signal handler is already stopping everything and will exit
    console.error(`\n${err.message}. Last lines of ${err.child.logPath}:`);
    for (const line of err.child.tail) console.error(`  ${line}`);
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
  for (const port of ports) if (!(await portFree(port))) busy.push(port);
  if (busy.length) fail(`port ${busy.join(', ')} on ${HOST} is already in use (another cluster still running?); pick others with --registry-port / --base-port`);
}

function portFree(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, HOST, () => server.close(() => resolve(true)));
  });
}

function startChild(name, opts, port, env) {
  const logPath = path.join(opts.dataDir, 'logs', `${name}.log`);
  const log = createWriteStream(logPath);
  const proc = spawn(process.execPath, [...serverFlags, MAIN], {
    cwd: ROOT,
    env: { ...env, PORT: String(port), DATA_DIR: path.join(opts.dataDir, name) },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Own process group: a terminal Ctrl-C reaches only this script, which then stops the children with SIGTERM.
    detached: true,
  });
  const child = { name, url: `http://${HOST}:${port}`, proc, logPath, tail: [], exit: undefined };
  child.exited = new Promise((resolve) => {
    proc.once('error', (err) => finish(`could not start: ${err.message}`));
    // 'close' rather than 'exit': it comes after the last output line, so the tail we print is complete.
    proc.once('close', (code, signal) => finish(signal ? `killed by ${signal}` : `exit code ${code}`));
    function finish(how) {
      if (child.exit) return;
      child.exit = how;
      if (ready && !shuttingDown) reportDeath(child);
      log.end(resolve); // flushed before this script may exit
    }
  });
  for (const stream of [proc.stdout, proc.stderr]) {
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
      log.write(`${line}\n`);
      child.tail.push(line);
      if (child.tail.length > TAIL_LINES) child.tail.shift();
      summarise(name, line);
    });
  }
  children.push(child);
  const rel = path.relative(process.cwd(), logPath);
  console.log(`started ${name.padEnd(9)} pid ${proc.pid} on ${child.url}  (log: ${rel.startsWith('..') ? logPath : rel})`);
  return child;
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
  console.error(`\n${child.name} stopped unexpectedly (${child.exit}); the others keep running. Last lines of ${child.logPath}:`);
  for (const line of child.tail.slice(-10)) console.error(`  ${line}`);
  if (children.every((c) => c.exit)) {
    console.error('Every process has stopped.');
    process.exit(1);
  }
}

class StartError extends Error {
  constructor(child, message) {
    super(`${child.name} ${message}`);
    this.child = child;
  }
}

async function waitLive(child) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!shuttingDown) {
    if (child.exit) throw new StartError(child, `stopped during start-up (${child.exit})`);
    if (await isLive(child.url)) return;
    if (Date.now() > deadline) throw new StartError(child, `did not answer GET ${child.url}/health/live within ${START_TIMEOUT_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new StartError(child, 'start-up interrupted');
}

async function isLive(url) {
  try {
    const res = await fetch(`${url}/health/live`, { signal: AbortSignal.timeout(1000) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false; // not listening yet
  }
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
  console.log(`\n${signal}: stopping ${children.filter((c) => !c.exit).length} processes (SIGKILL after ${STOP_TIMEOUT_MS / 1000} s)…`);
  await stopAll();
  console.log('All stopped.');
  process.exit(0);
}

/** Nodes first, so that they can still reach the registry to leave; the registry last. SIGKILL after 10 s. */
async function stopAll() {
  const force = setTimeout(() => {
    for (const c of children.filter((c) => !c.exit)) console.error(`${c.name} did not stop in time: SIGKILL`);
    signalAll('SIGKILL');
  }, STOP_TIMEOUT_MS);
  const nodes = children.filter((c) => c.name !== 'registry');
  signalAll('SIGTERM', nodes);
  await Promise.all(nodes.map((c) => c.exited));
  signalAll('SIGTERM');
  await Promise.all(children.map((c) => c.exited));
  clearTimeout(force);
}

function signalAll(signal, which = children) {
  for (const c of which) if (!c.exit) c.proc.kill(signal);
}
