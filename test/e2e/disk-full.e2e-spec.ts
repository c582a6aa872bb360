import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { newClusterToken, startNode, startRegistry, stopAndRemove } from '../support/start-cluster.js';
import type { ShoalProcess } from '../support/processes.js';
import { sha256 as sha } from '../support/files.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

/**
 * A real full disk: the node's DATA_DIR is a small tmpfs (mounting needs root, as in CI; the suite says so and skips
 * otherwise). An upload that does not fit is 507 INSUFFICIENT_STORAGE, nothing half-written stays, what was stored
 * before is intact, and the node goes on serving — and storing again once space is freed.
 */
describe('a full disk', () => {
  let mountPoint: string;
  let mounted = false;
  let registry: ShoalProcess | undefined;
  let node: ShoalProcess | undefined;

  beforeAll(async () => {
    mountPoint = await mkdtemp(path.join(os.tmpdir(), 'shoal-diskfull-'));
    try {
      await run('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mountPoint]);
      mounted = true;
    } catch (err) {
      process.stderr.write(`disk-full e2e SKIPPED: cannot mount a tmpfs here (${(err as Error).message.split('\n')[0]}); it needs root, as CI has\n`);
      return;
    }
    const token = newClusterToken();
    registry = await startRegistry({ token });
    node = await startNode({ token, registries: [registry], dataDir: path.join(mountPoint, 'node'), env: { REPLICATION_FACTOR: '1', WRITE_QUORUM: '1', READ_QUORUM: '1', SCRUB_BYTES_PER_SEC: '0' } });
  }, 60_000);

  afterAll(async () => {
    await stopAndRemove([node, registry].filter((p): p is ShoalProcess => p !== undefined)).catch(() => undefined);
    if (mounted) await run('umount', ['-l', mountPoint]).catch(() => undefined);
    await rm(mountPoint, { recursive: true, force: true });
  });

  const url = (key: string) => `${node!.url}/v1/files/${key}`;
  const put = (key: string, body: Buffer) => fetch(url(key), { method: 'PUT', body });

  it('answers 507 with nothing half-written, keeps what it had, and stores again once space is freed', async () => {
    if (!mounted) return;
    const small = randomBytes(2 * MiB);
    expect((await put('before', small)).status).toBe(201);

    const tooBig = randomBytes(40 * MiB);
    const res = await put('too-big', tooBig);
    expect(res.status).toBe(507);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await res.json()).toMatchObject({ status: 507, code: 'INSUFFICIENT_STORAGE' });

    expect(await readdir(path.join(node!.dataDir, 'tmp'))).toEqual([]);
    expect((await fetch(url('too-big'))).status).toBe(404);
    const before = await fetch(url('before'));
    expect(before.status).toBe(200);
    expect(sha(Buffer.from(await before.arrayBuffer()))).toBe(sha(small));
    expect((await fetch(`${node!.url}/health/live`)).status).toBe(200);

    // Small files still fit (appended to a pack file), and freeing space lets a large one in again.
    expect((await put('tiny', Buffer.from('still here'))).status).toBe(201);

    // Filled to the last byte — large files, then smaller ones, then small ones (kept in pack files, not as files of
    // their own) — a small upload is refused the same way, and leaves nothing behind.
    const stored: string[] = [];
    for (const [size, most] of [[2 * MiB, 20], [64 * 1024, 200], [8 * 1024, 3000]] as const) {
      for (let i = 0; i < most; i++) {
        const key = `fill-${size}-${i}`;
        const r = await put(key, randomBytes(size));
        if (r.status !== 201) {
          const doc = await r.json();
          expect([key, r.status, doc]).toEqual([key, 507, expect.objectContaining({ code: 'INSUFFICIENT_STORAGE' })]);
          expect((await fetch(url(key))).status).toBe(404);
          break;
        }
        stored.push(key);
      }
    }
    const refused = await put('small-on-full', randomBytes(4096));
    expect(refused.status).toBe(507);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await refused.json()).toMatchObject({ status: 507, code: 'INSUFFICIENT_STORAGE' });
    expect((await fetch(url('small-on-full'))).status).toBe(404);
    expect((await fetch(url('tiny'))).status).toBe(200);
    for (const key of stored.filter((k) => k.startsWith(`fill-${2 * MiB}-`))) expect((await fetch(url(key), { method: 'DELETE' })).status).toBe(204);
    const smallAgain = randomBytes(4096);
    expect((await put('small-after', smallAgain)).status).toBe(201);
    expect(sha(Buffer.from(await (await fetch(url('small-after'))).arrayBuffer()))).toBe(sha(smallAgain));

    expect((await fetch(url('before'), { method: 'DELETE' })).status).toBe(204);
    const again = randomBytes(8 * MiB);
    expect((await put('after', again)).status).toBe(201);
    expect(sha(Buffer.from(await (await fetch(url('after'))).arrayBuffer()))).toBe(sha(again));
  }, 120_000);
});
