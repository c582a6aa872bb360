import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { MembershipDto } from '../../src/common/protocol/membership.dto.js';
import { freePort, freePortRange } from '../../src/tools/cluster/ports.js';
import { getJson, isLive } from '../support/http.js';
import { pollUntil } from '../support/poll-until.js';
import { type ExitInfo, REPO_ROOT, trackPid, untrackPid } from '../support/processes.js';
import { runTool } from '../support/s3-cluster.js';

/** `npm run cluster` (DESIGN.md §5): starts a registry and nodes, and Ctrl-C stops every one of them. */
describe('scripts/cluster.mjs', () => {
  let dataDir: string;
  let script: ChildProcess | undefined;
  let exited: Promise<ExitInfo>;
  let output = '';
  /** Pids the script reports for its children; they run in their own process group, so track them separately. */
  let childPids: number[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'shoal-test-'));
  });

  afterAll(async () => {
    if (script && script.exitCode === null && script.signalCode === null) {
      script.kill('SIGTERM'); // the script's own graceful path stops its children
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
    }
    for (const pid of childPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    if (process.env.KEEP_TEST_DATA !== '1') await rm(dataDir, { recursive: true, force: true });
  });

  it('starts a registry and 2 nodes that register, and stops them all on SIGINT', async () => {
    const registryPort = await freePort();
    const basePort = (await freePortRange(2)) - 1; // the nodes listen on base+1 and base+2
    const registry = `http://127.0.0.1:${registryPort}`;
    const nodes = [1, 2].map((i) => `http://127.0.0.1:${basePort + i}`);
    const s3BasePort = (await freePortRange(2)) - 1;

    const proc = spawn(
      process.execPath,
      ['scripts/cluster.mjs', '--nodes', '2', '--data', dataDir, '--registry-port', String(registryPort), '--base-port', String(basePort), '--s3-base-port', String(s3BasePort)],
      // PATH for `npm run build` should src/ be newer than dist/; a short heartbeat so the nodes show up quickly.
      { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', HEARTBEAT_INTERVAL_MS: '200' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    script = proc;
    trackPid(proc.pid);
    exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    proc.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    proc.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));

    let early: ExitInfo | undefined;
    void exited.then((e) => (early = e));
    // The banner comes last, after every child answered /health/live; the build may run first.
    await pollUntil(() => early !== undefined || output.includes('Ctrl-C stops the cluster'), {
      timeoutMs: 120_000,
      intervalMs: 200,
      message: () => `the script printed no banner:\n${output}`,
    });
    if (early) throw new Error(`the script exited early (${JSON.stringify(early)}):\n${output}`);
    for (const url of [registry, ...nodes]) expect(output).toContain(`${url}/docs`);
    expect(output).toContain(`${registry}/\n`); // the status page
    expect(output).toContain(`curl -T file ${nodes[0]}/v1/files/hello.txt`);

    // The S3 API is on, with a generated key pair kept in the data dir, and the printed aws lines work as printed.
    const [, keyId, secret] = /export AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=(\S+) /.exec(output) ?? [];
    expect((await readFile(path.join(dataDir, 's3-credentials'), 'utf8')).trim()).toBe(`${keyId}:${secret}`);
    const awsLines = [...output.matchAll(/^ {2}(aws --endpoint-url http:\/\/127\.0\.0\.1:(\d+) s3 .*)$/gm)];
    expect(awsLines.map((m) => Number(m[2]))).toEqual([s3BasePort + 1, s3BasePort + 1]);
    const home = await mkdtemp(path.join(os.tmpdir(), 'shoal-test-home-'));
    try {
      for (const [line] of awsLines.map((m) => [m[1]])) {
        const [cmd, ...args] = line.split(' ');
        const r = await runTool(cmd, args, { home, env: { AWS_ACCESS_KEY_ID: keyId, AWS_SECRET_ACCESS_KEY: secret } });
        expect({ line, code: r.code, stderr: r.stderr }).toEqual({ line, code: 0, stderr: '' });
        if (line.endsWith('s3 ls')) expect(r.stdout).toMatch(/ demo\n/);
      }
    } finally {
      await rm(home, { recursive: true, force: true });
    }

    childPids = [...output.matchAll(/\bpid (\d+)\b/g)].map((m) => Number(m[1]));
    expect(childPids).toHaveLength(3);
    childPids.forEach(trackPid);

    await pollUntil(
      async () => {
        const { status, body } = await getJson<MembershipDto>(`${registry}/v1/nodes`);
        expect(status).toBe(200);
        expect(body.nodes.map((n) => [n.url, n.status]).sort()).toEqual(nodes.map((url) => [url, 'up']));
      },
      { timeoutMs: 15_000, message: 'the registry did not list both nodes as up' },
    );

    proc.kill('SIGINT');
    expect(await exited).toEqual({ code: 0, signal: null });
    for (const pid of childPids) expect(alive(pid)).toBe(false);
    for (const url of [registry, ...nodes]) expect(await isLive(url)).toBe(false);
    childPids.forEach(untrackPid);
    untrackPid(proc.pid);
  }, 180_000);
});

/** Signal 0 checks that a process exists without touching it. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}
