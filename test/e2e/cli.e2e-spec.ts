import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { freePort } from '../../src/tools/cluster/ports.js';
import { REPO_ROOT, trackPid, untrackPid } from '../support/processes.js';
import { type Cluster, startCluster } from '../support/start-cluster.js';
import { sha256 } from '../support/files.js';

/**
 * The `shoal` CLI (DESIGN.md §5) as a user runs it — `node bin/shoal.js …` from the build in dist/ — against a real
 * cluster whose client API needs a token (API_TOKENS), so the same cluster also shows what a wrong token does.
 */
const BIN = path.join(REPO_ROOT, 'bin', 'shoal.js');
const TOKEN = 'cli-e2e-token';
const MiB = 1024 * 1024;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  cwd?: string;
  /** Replaces the default SHOAL_* variables given to the CLI (an absent one is unset). */
  env?: Record<string, string>;
  /** Written to the CLI's stdin; stdin is closed empty otherwise. */
  input?: Readable;
  /** Receives stdout as it comes instead of buffering it into `stdout` (large downloads). */
  stdoutTo?: Writable;
  /** Called with the child's pid right after spawning (to watch its memory). */
  onSpawn?: (pid: number) => void;
}

if (!existsSync(path.join(REPO_ROOT, 'dist', 'cli', 'main.js'))) {
  throw new Error('dist/cli/main.js is missing: run `npm run build` first (npm test does)');
}

describe('shoal CLI', () => {
  let cluster: Cluster;
  let work: string;
  let defaultEnv: Record<string, string>;

  /** Runs `node bin/shoal.js …args` and resolves when it exits. */
  function shoal(args: string[], options: RunOptions = {}): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], {
        cwd: options.cwd ?? work,
        // Only PATH from the developer's shell: a SHOAL_URL set there must not change the test.
        env: { PATH: process.env.PATH ?? '', ...(options.env ?? defaultEnv) },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      trackPid(child.pid);
      if (child.pid !== undefined) options.onSpawn?.(child.pid);
      let stdout = '';
      let stderr = '';
      if (options.stdoutTo) child.stdout.pipe(options.stdoutTo);
      else child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      if (options.input) options.input.pipe(child.stdin).on('error', () => undefined); // the CLI may stop reading early (401)
      else child.stdin.end();
      child.once('error', reject);
      child.once('close', (code) => {
        untrackPid(child.pid);
        resolve({ code, stdout, stderr });
      });
    });
  }

  beforeAll(async () => {
    cluster = await startCluster({ nodes: 3, nodeEnv: { API_TOKENS: TOKEN } });
    defaultEnv = { SHOAL_URL: cluster.nodes[0].url, SHOAL_TOKEN: TOKEN, SHOAL_REGISTRY: cluster.registry.url };
    work = await mkdtemp(path.join(os.tmpdir(), 'shoal-cli-'));
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('put then get round-trips a file byte for byte, through two different nodes', async () => {
    const bytes = deterministicBytes(3 * MiB + 17, 1);
    await writeFile(path.join(work, 'photo.jpg'), bytes);

    const put = await shoal(['put', 'photo.jpg', 'albums/2026/photo.jpg']);
    expect(put).toMatchObject({ code: 0, stderr: '' }); // piped stderr: no progress bar
    expect(put.stdout).toMatch(/^stored albums\/2026\/photo\.jpg \(3\.0 MiB, sha256 [0-9a-f]{64}\) on 3 nodes: /);

    const get = await shoal(['get', 'albums/2026/photo.jpg', 'copy.jpg', '--url', cluster.nodes[2].url]);
    expect(get).toMatchObject({ code: 0, stderr: '' });
    expect(sha256(await readFile(path.join(work, 'copy.jpg')))).toBe(sha256(bytes));

    // Default target: the key's base name in the current directory.
    const dir = await mkdtemp(path.join(work, 'get-'));
    expect((await shoal(['get', 'albums/2026/photo.jpg'], { cwd: dir })).code).toBe(0);
    expect(await readdir(dir)).toEqual(['photo.jpg']);
    expect(sha256(await readFile(path.join(dir, 'photo.jpg')))).toBe(sha256(bytes));
  });

  it('--json output parses (put, get, stat) and --verify sends the checksum', async () => {
    await writeFile(path.join(work, 'notes.md'), '# notes\n');
    const put = await shoal(['put', '--json', '--verify', 'notes.md', 'docs/notes.md']);
    expect(put.code).toBe(0);
    expect(JSON.parse(put.stdout)).toMatchObject({ key: 'docs/notes.md', size: 8, sha256: sha256('# notes\n'), contentType: 'text/markdown', replicas: 3 });

    const stat = await shoal(['stat', 'docs/notes.md', '--json']);
    expect(JSON.parse(stat.stdout)).toMatchObject({ key: 'docs/notes.md', size: 8, sha256: sha256('# notes\n'), contentType: 'text/markdown' });

    const get = await shoal(['get', 'docs/notes.md', 'notes-copy.md', '--json']);
    expect(JSON.parse(get.stdout)).toMatchObject({ key: 'docs/notes.md', size: 8, sha256: sha256('# notes\n') });

    // Without a key, the file's base name is the key.
    const byName = await shoal(['put', '--json', path.join(work, 'notes.md')]);
    expect(JSON.parse(byName.stdout)).toMatchObject({ key: 'notes.md', size: 8 });
  });

  it('stat shows size, sha256 and type of a key with spaces and non-ASCII characters', async () => {
    const key = 'reports/été 2026/q3 #1.txt';
    await writeFile(path.join(work, 'q3.txt'), 'quarterly\n');
    expect((await shoal(['put', 'q3.txt', key])).code).toBe(0);
    const stat = await shoal(['stat', key]);
    expect(stat.code).toBe(0);
    expect(stat.stdout).toContain(`key:      ${key}\n`);
    expect(stat.stdout).toContain('size:     10 bytes');
    expect(stat.stdout).toContain(`sha256:   ${sha256('quarterly\n')}\n`);
    expect(stat.stdout).toContain('type:     text/plain');
  });

  it('ls follows every page: 25 files listed with --limit 10', async () => {
    const keys = Array.from({ length: 25 }, (_, i) => `many/file-${String(i).padStart(2, '0')}.txt`);
    await Promise.all(keys.map((key, i) => putDirect(cluster.nodes[i % 3].url, key, `file ${i}\n`)));

    const json = await shoal(['ls', 'many/', '--limit', '10', '--json']);
    expect(json.code).toBe(0);
    const items = JSON.parse(json.stdout) as Array<{ key: string; size: number }>;
    expect(items.map((i) => i.key)).toEqual(keys);

    const human = await shoal(['ls', 'many/', '--limit', '10']);
    const lines = human.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(25);
    expect(lines[0]).toMatch(/^\s+7 B {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+many\/file-00\.txt$/);

    const none = await shoal(['ls', 'nothing-here/', '--json']);
    expect(JSON.parse(none.stdout)).toEqual([]);
  });

  it('rm deletes; then get and stat exit 3 with one line, and leave no file behind', async () => {
    await writeFile(path.join(work, 'doomed.txt'), 'bye\n');
    expect((await shoal(['put', 'doomed.txt', 'tmp/doomed.txt'])).code).toBe(0);
    expect(await shoal(['rm', 'tmp/doomed.txt'])).toMatchObject({ code: 0, stdout: 'deleted tmp/doomed.txt\n' });

    const dir = await mkdtemp(path.join(work, 'gone-'));
    const get = await shoal(['get', 'tmp/doomed.txt'], { cwd: dir });
    expect(get.code).toBe(3);
    expect(get.stderr).toBe('shoal: no live version of "tmp/doomed.txt" (NOT_FOUND, HTTP 404)\n');
    expect(await readdir(dir)).toEqual([]);

    expect((await shoal(['stat', 'tmp/doomed.txt'])).code).toBe(3);
    expect((await shoal(['rm', 'tmp/doomed.txt'])).code).toBe(3);
  });

  it('nodes lists every node up (table and JSON); status summarises the cluster and the node', async () => {
    const json = await shoal(['nodes', '--json']);
    expect(json.code).toBe(0);
    const membership = JSON.parse(json.stdout) as { nodes: Array<{ url: string; status: string }> };
    expect(membership.nodes.map((n) => [n.url, n.status]).sort()).toEqual(cluster.nodes.map((n) => [n.url, 'up']).sort());

    const table = await shoal(['nodes']);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+STATUS\s+URL\s+ZONE\s+FILES\s+USED\s+FREE\s+LAST HEARTBEAT\s+DECOMMISSION$/);
    for (const node of cluster.nodes) expect(table.stdout).toMatch(new RegExp(`\\sup\\s+${node.url}\\s`));

    const status = await shoal(['status', '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ registry: cluster.registry.url, cluster: { nodes: { up: 3, down: 0, dead: 0 } }, node: { url: cluster.nodes[0].url, state: 'ready' } });
    const human = await shoal(['status']);
    expect(human.stdout).toMatch(/^nodes: +3 up, 0 down, 0 stopped, 0 leaving, 0 left, 0 dead$/m);
  });

  it('a wrong or missing token exits 4 with one line, also for an upload from stdin', async () => {
    const wrong = { ...defaultEnv, SHOAL_TOKEN: 'not-the-token' };
    const ls = await shoal(['ls'], { env: wrong });
    expect(ls).toMatchObject({ code: 4, stdout: '' });
    expect(ls.stderr).toBe('shoal: unknown token (UNAUTHORIZED, HTTP 401)\n');

    const { SHOAL_TOKEN: _, ...noToken } = defaultEnv;
    const missing = await shoal(['stat', 'docs/notes.md'], { env: noToken });
    expect(missing.code).toBe(4);
    expect(missing.stderr.trimEnd().split('\n')).toHaveLength(1);

    // Refused before the body is read: the CLI stops sending and reports the refusal, not a broken pipe.
    const put = await shoal(['put', '-', 'denied.bin'], { env: wrong, input: Readable.from(chunks(8 * MiB, 3)) });
    expect(put).toMatchObject({ code: 4, stderr: 'shoal: unknown token (UNAUTHORIZED, HTTP 401)\n' });
  });

  it('usage errors exit 2; an unreachable node exits 5', async () => {
    const noKey = await shoal(['put', '-']);
    expect(noKey).toMatchObject({ code: 2, stderr: 'shoal: put - reads stdin and needs a key: shoal put - <key> (see shoal --help)\n' });
    expect((await shoal(['ls', '--limit', '5000'])).code).toBe(2);
    expect((await shoal(['frobnicate'])).code).toBe(2);

    const port = await freePort();
    const down = await shoal(['ls', '--url', `http://127.0.0.1:${port}`]);
    expect(down.code).toBe(5);
    expect(down.stderr).toMatch(/^shoal: cannot reach http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED.* \(NETWORK_ERROR\)\n$/);
  });

  it('node decommission: needs the cluster token (exit 2), refuses a wrong one (exit 4) and an unknown node (exit 3)', async () => {
    const noToken = await shoal(['node', 'decommission', 'node-x']);
    expect(noToken).toMatchObject({ code: 2, stdout: '' });
    expect(noToken.stderr).toMatch(/^shoal: node decommission changes the membership: pass the CLUSTER_TOKEN with --cluster-token or SHOAL_CLUSTER_TOKEN/);
    const wrong = await shoal(['node', 'decommission', 'node-x', '--cluster-token', 'not-the-token']);
    expect(wrong.code).toBe(4);
    const unknown = await shoal(['node', 'decommission', 'no-such-node', '--json'], { env: { ...defaultEnv, SHOAL_CLUSTER_TOKEN: cluster.token } });
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toMatch(/NODE_NOT_FOUND/);
    expect((await shoal(['node', 'decommission', 'x', '--wait', '--cancel', '--cluster-token', 't'])).code).toBe(2);
  });

  it('get fails with exit 1 and removes the partial file when the bytes do not match the ETag', async () => {
    // A stand-in node whose ETag names other content: only a fake can send wrong bytes on purpose.
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '5', etag: `"${sha256('other')}"` });
      res.end('hello');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const dir = await mkdtemp(path.join(work, 'bad-'));
      const get = await shoal(['get', 'x/file.bin', '--url', url], { cwd: dir });
      expect(get.code).toBe(1);
      expect(get.stderr).toMatch(/^shoal: checksum mismatch: received sha256 [0-9a-f]{64}, the ETag says [0-9a-f]{64}; nothing was saved \(CHECKSUM_MISMATCH\)\n$/);
      expect(await readdir(dir)).toEqual([]);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('pipes 64 MiB through stdin and stdout with bounded memory', async () => {
    const size = 64 * MiB;
    const expected = sha256Stream(chunks(size, 42));
    const hash = createHash('sha256');
    const sink = new Writable({ write: (chunk: Buffer, _e, cb) => (hash.update(chunk), cb()) });
    // The same commands on 1 MiB: what the CLI needs whatever the size (Node, modules, sockets, stream buffers).
    const small = await peakRss((onSpawn) => shoal(['put', '-', 'small.bin'], { input: Readable.from(chunks(MiB, 7)), onSpawn }));
    const smallGet = await peakRss((onSpawn) => shoal(['get', 'small.bin', '-'], { stdoutTo: new Writable({ write: (_c, _e, cb) => cb() }), onSpawn }));
    expect([small.result.code, smallGet.result.code]).toEqual([0, 0]);

    const put = await peakRss((onSpawn) => shoal(['put', '-', 'big.bin'], { input: Readable.from(chunks(size, 42)), onSpawn }));
    expect(put.result).toMatchObject({ code: 0, stderr: '' });
    expect(put.result.stdout).toContain(`stored big.bin (64 MiB, sha256 ${await expected})`);

    const get = await peakRss((onSpawn) => shoal(['get', 'big.bin', '-', '--url', cluster.nodes[1].url], { stdoutTo: sink, onSpawn }));
    expect(get.result).toMatchObject({ code: 0, stderr: '' });
    expect(hash.digest('hex')).toBe(await expected);

    // Streaming, 64 MiB cost only garbage awaiting collection over the 1 MiB run (measured: 25–35 MiB); holding the
    // file adds all of it on top (a buffering get measured +138 MiB). Only measurable where /proc exists (Linux).
    if (small.peak > 0 && smallGet.peak > 0) {
      expect((put.peak - small.peak) / MiB).toBeLessThan(size / MiB);
      expect((get.peak - smallGet.peak) / MiB).toBeLessThan(size / MiB);
    }
  }, 60_000);
});

/** PUT straight to a node, to set up data without paying for one CLI process per file. */
async function putDirect(url: string, key: string, body: string): Promise<void> {
  const res = await fetch(`${url}/v1/files/${key}`, { method: 'PUT', body, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'text/plain' } });
  if (res.status !== 201) throw new Error(`PUT ${key}: ${res.status} ${await res.text()}`);
}

/** The highest RSS (VmHWM) a child reached while `run` waited for it, read from /proc every 20 ms; 0 without /proc. */
async function peakRss<T>(run: (onSpawn: (pid: number) => void) => Promise<T>): Promise<{ result: T; peak: number }> {
  let peak = 0;
  let timer: NodeJS.Timeout | undefined;
  const sample = (pid: number) => {
    try {
      const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      if (kb) peak = Math.max(peak, Number(kb) * 1024);
    } catch {
      // the process has just exited, or there is no /proc: keep the last sample
    }
  };
  try {
    const result = await run((pid) => {
      sample(pid);
      timer = setInterval(() => sample(pid), 20);
    });
    return { result, peak };
  } finally {
    clearInterval(timer);
  }
}

/** `total` bytes from a seeded xorshift32 generator, in 1 MiB chunks: the same bytes every run, cheap to make. */
function* chunks(total: number, seed: number): Generator<Buffer> {
  let state = seed >>> 0 || 1;
  for (let done = 0; done < total; done += MiB) {
    const words = new Uint32Array(MiB / 4);
    for (let i = 0; i < words.length; i++) {
      state ^= state << 13;
      state >>>= 0;
      state ^= state >>> 17;
      state ^= state << 5;
      state >>>= 0;
      words[i] = state;
    }
    const buf = Buffer.from(words.buffer);
    yield total - done < MiB ? buf.subarray(0, total - done) : buf;
  }
}

function deterministicBytes(total: number, seed: number): Buffer {
  return Buffer.concat([...chunks(total, seed)]);
}

async function sha256Stream(source: Iterable<Buffer>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of Readable.from(source)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
