import vm from 'node:vm';
import type { LaunchOptions } from '../../src/tools/cluster/local-cluster.js';

/**
 * The test side of the shared spawner (src/tools/cluster/): every process a test starts is a {@link ShoalProcess}
 * launched with {@link TEST_LAUNCH} — only PATH from the test's own environment, `[test]` notes in its log tail, and
 * its pid tracked so that a failed or forgotten test leaves nothing running.
 */
export { ServerProcess as ShoalProcess, REPO_ROOT, type Env, type ExitInfo, type ProcessSpec } from '../../src/tools/cluster/server-process.js';

/**
 * Pids of every child still running, SIGKILLed when the test process exits so that no failed or forgotten test
 * leaves one behind. Jest gives each test file a sandboxed copy of `process` whose 'exit' event never fires, so the
 * set and the hook live on the host process (reached through the main V8 context) and are shared by all test files.
 */
const TRACKED = Symbol.for('shoal.test.trackedPids');
let tracked: Set<number> | undefined;

function trackedPids(): Set<number> {
  if (tracked) return tracked;
  const host = vm.runInThisContext('process') as NodeJS.Process & { [TRACKED]?: Set<number> };
  if (!host[TRACKED]) {
    const pids = new Set<number>();
    host[TRACKED] = pids;
    host.once('exit', () => {
      for (const pid of pids) killQuietly(host, pid);
    });
  }
  return (tracked = host[TRACKED]);
}

/** Kill `pid` with SIGKILL if it is still tracked when the test process exits. */
export function trackPid(pid: number | undefined): void {
  if (pid !== undefined) trackedPids().add(pid);
}

export function untrackPid(pid: number | undefined): void {
  if (pid !== undefined) trackedPids().delete(pid);
}

function killQuietly(host: NodeJS.Process, pid: number): void {
  try {
    host.kill(pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err; // ESRCH: it is gone already, as intended
  }
}

/** How tests launch servers (see the module comment); KEEP_TEST_DATA=1 keeps the data dirs for a post-mortem. */
export const TEST_LAUNCH: LaunchOptions = {
  // Only PATH from the test's own environment, so a variable set in the developer's shell cannot change a test.
  baseEnv: { PATH: process.env.PATH ?? '' },
  notePrefix: '[test]',
  // A child a test forgot to stop must not keep Jest alive; the exit hook above kills it instead.
  unref: true,
  hooks: { spawned: trackPid, exited: untrackPid },
  tempPrefix: 'shoal-test-',
  keepData: process.env.KEEP_TEST_DATA === '1',
};
