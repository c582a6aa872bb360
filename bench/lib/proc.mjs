// Start and stop the server processes under test; wait until they answer.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { httpRequest, sleep, tail } from './util.mjs';

const live = new Set();

/**
 * Spawn a long-running service. stdout+stderr go to logFile. inheritEnv:false passes exactly `env`.
 * Returns {name, pid, child, logFile, exited (Promise<{code,signal}>), exitInfo}.
 */
export function startProcess(name, cmd, args, { env = {}, inheritEnv = true, cwd, logFile } = {}) {
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(cmd, args, {
    cwd,
    env: inheritEnv ? { ...process.env, ...env } : env,
    stdio: ['ignore', fd, fd],
  });
  fs.closeSync(fd);
  const svc = { name, pid: child.pid, child, logFile, exitInfo: null };
  svc.exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      svc.exitInfo = { code, signal };
      live.delete(svc);
      resolve(svc.exitInfo);
    });
    child.once('error', (err) => {
      svc.exitInfo = { code: null, signal: null, error: err.message };
      live.delete(svc);
      resolve(svc.exitInfo);
    });
  });
  live.add(svc);
  return svc;
}

/** SIGTERM, then SIGKILL after graceMs. Only ever signals the pid we spawned. */
export async function stopProcess(svc, graceMs = 8000) {
  if (!svc || svc.exitInfo) return svc?.exitInfo;
  try {
    svc.child.kill('SIGTERM');
  } catch {
    /* already gone */
  }
  const t = sleep(graceMs).then(() => 'timeout');
  if ((await Promise.race([svc.exited, t])) === 'timeout') {
    console.error(`# ${svc.name} (pid ${svc.pid}) did not stop within ${graceMs} ms: SIGKILL`);
    try {
      svc.child.kill('SIGKILL');
    } catch {
      /* gone */
    }
    await Promise.race([svc.exited, sleep(3000)]);
  }
  return svc.exitInfo;
}

/** Short-lived helpers (curl) to kill too if the run is interrupted. */
const helpers = new Set();
export function trackHelper(child) {
  helpers.add(child);
  child.once('exit', () => helpers.delete(child));
  return child;
}

/** Servers started elsewhere (the shared spawner), by pid, to kill too if the run is interrupted. */
const pids = new Set();
export function trackPid(pid) {
  pids.add(pid);
}
export function untrackPid(pid) {
  pids.delete(pid);
}

/** Synchronous last-resort kill of everything still running (process exit / signal). */
export function killAllSync() {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const child of helpers) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const svc of live) {
    try {
      svc.child.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/**
 * Poll url until it answers with a 2xx (or until predicate(res) is true), bounded by timeoutMs.
 * Fails early if one of the watched services exits.
 */
export async function waitFor(url, { timeoutMs = 60000, intervalMs = 200, watch = [], predicate } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    for (const svc of watch) {
      if (svc.exitInfo) {
        throw new Error(
          `${svc.name} exited (${JSON.stringify(svc.exitInfo)}) while waiting for ${url}\n--- ${svc.logFile} (tail) ---\n${tail(svc.logFile)}`,
        );
      }
    }
    try {
      const res = await httpRequest(url, { timeoutMs: 2000 });
      if (predicate ? predicate(res) : res.status >= 200 && res.status < 300) return res;
      last = `HTTP ${res.status} ${res.body.toString('utf8').slice(0, 200)}`;
    } catch (err) {
      last = err.message;
    }
    await sleep(intervalMs);
  }
  const logs = watch.map((s) => `--- ${s.logFile} (tail) ---\n${tail(s.logFile)}`).join('\n');
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${url} (last: ${last})\n${logs}`);
}
