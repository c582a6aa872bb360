import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/tools/cluster/ports.js';
import { trackPid, untrackPid, type Env, type ShoalProcess } from './processes.js';
import { type Cluster, startCluster } from './start-cluster.js';

/** The key pairs every S3 test cluster accepts (S3_ACCESS_KEYS, S3_READ_ACCESS_KEYS). */
export const S3_KEY = { id: 'AKIASHOALTESTKEY0001', secret: 'shoal-test-secret-0001-abcdefghijklmnopqrstu' };
export const S3_READ_KEY = { id: 'AKIASHOALREADONLY001', secret: 'shoal-read-secret-0001-abcdefghijklmnopqrst' };

export interface S3Cluster {
  cluster: Cluster;
  /** S3 endpoint of each node, in the order of cluster.nodes */
  endpoints: string[];
  /** A temp HOME for the clients (their config files land there, never in the user's) */
  home: string;
  stop(): Promise<void>;
}

/** A real cluster (registry + `nodes` nodes) with the S3 API on a free port of each node. */
export async function startS3Cluster(nodes = 3, env: Env = {}): Promise<S3Cluster> {
  const cluster = await startCluster({ nodes: 0, waitForMembership: false });
  const endpoints: string[] = [];
  try {
    for (let i = 0; i < nodes; i++) {
      const port = await freePort();
      await cluster.addNode({ S3_PORT: String(port), S3_ACCESS_KEYS: `${S3_KEY.id}:${S3_KEY.secret}`, S3_READ_ACCESS_KEYS: `${S3_READ_KEY.id}:${S3_READ_KEY.secret}`, ...env });
      endpoints.push(`http://127.0.0.1:${port}`);
    }
    await cluster.waitForMembership();
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  const home = await mkdtemp(path.join(os.tmpdir(), 'shoal-s3-home-'));
  return {
    cluster,
    endpoints,
    home,
    stop: async () => {
      await cluster.stop();
      await rm(home, { recursive: true, force: true });
    },
  };
}

export interface ToolRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a client tool (aws, python3, rclone, s3cmd, curl) with a clean environment: its own HOME, the test key, no
 * proxy and no AWS_* settings inherited from the user; bounded in time.
 */
export function runTool(cmd: string, args: string[], opts: { home: string; env?: Env; timeoutMs?: number; cwd?: string } ): Promise<ToolRun> {
  const env: Env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: opts.home,
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    AWS_ACCESS_KEY_ID: S3_KEY.id,
    AWS_SECRET_ACCESS_KEY: S3_KEY.secret,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: path.join(opts.home, '.aws', 'config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(opts.home, '.aws', 'credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    PYTHONIOENCODING: 'utf-8',
    // pyenv shims (where the aws CLI and boto3 live on some machines) find their root through HOME otherwise.
    PYENV_ROOT: process.env.PYENV_ROOT ?? path.join(os.homedir(), '.pyenv'),
    ...opts.env,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd: opts.cwd ?? opts.home, stdio: ['ignore', 'pipe', 'pipe'] });
    trackPid(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      untrackPid(child.pid);
      resolve({ code, stdout, stderr });
    });
  });
}

export function nodeOf(s3: S3Cluster, i: number): ShoalProcess {
  return s3.cluster.nodes[i];
}
