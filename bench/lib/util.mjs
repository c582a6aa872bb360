// Small shared helpers for the Shoal benchmark harness (plain ESM, no build step).
import { parseArgs } from 'node:util';
import net from 'node:net';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { execFileSync } from 'node:child_process';

export const MiB = 1024 * 1024;
export const LOOPBACK = '127.0.0.1';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A free TCP port on 127.0.0.1 (bind to 0, read it back, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, LOOPBACK, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** mkdtemp under parent (default os.tmpdir()); world-traversable so that nginx's www-data worker can reach subfolders. */
export function makeTempDir(prefix, parent = os.tmpdir()) {
  const dir = fs.mkdtempSync(path.join(parent, `shoal-bench-${prefix}-`));
  fs.chmodSync(dir, 0o755);
  return dir;
}

export function removeDir(dir) {
  if (!dir) return;
  try {
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch (err) {
    console.error(`# could not remove ${dir}: ${err.message}`);
  }
}

/** One bounded HTTP request to a loopback URL; resolves {status, headers, body:Buffer}. Never rejects on status. */
export function httpRequest(url, { method = 'GET', headers = {}, body, timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    if (u.hostname !== LOOPBACK && u.hostname !== 'localhost') {
      reject(new Error(`refusing non-loopback URL ${url}`));
      return;
    }
    const req = http.request(u, { method, headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${method} ${url}`)));
    req.on('error', reject);
    req.end(body);
  });
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

function tryExec(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 }).trim();
  } catch {
    return null;
  }
}

export function machineInfo(repoDir) {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m);
    if (m) cpuModel = m[1].trim();
  } catch {
    /* keep os.cpus() */
  }
  let nginxVersion = null;
  if (fs.existsSync('/usr/sbin/nginx')) {
    // nginx -v prints on stderr
    const out = tryExec('/bin/sh', ['-c', '/usr/sbin/nginx -v 2>&1']);
    nginxVersion = out ? out.replace(/^nginx version:\s*/, '') : 'unknown';
  }
  return {
    date: new Date().toISOString(),
    nproc: os.availableParallelism ? os.availableParallelism() : os.cpus().length,
    cpuModel,
    memGiB: +(os.totalmem() / 1024 ** 3).toFixed(1),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    curl: (tryExec('curl', ['--version']) ?? '').split('\n')[0].split(' ').slice(0, 2).join(' ') || null,
    nginx: nginxVersion,
    commit: tryExec('git', ['-C', repoDir, 'rev-parse', '--short', 'HEAD']),
    dirty: (tryExec('git', ['-C', repoDir, 'status', '--porcelain', '--untracked-files=no']) ?? '') !== '',
  };
}

export function tail(file, lines = 20) {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Parses the command line against `options` (node:util parseArgs); a bad flag prints `help` and exits 2, --help exits 0. */
export function parseCli(options, help) {
  let values;
  try {
    ({ values } = parseArgs({ options }));
  } catch (err) {
    console.error(`${err.message}\n\n${help}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(help);
    process.exit(0);
  }
  return values;
}
