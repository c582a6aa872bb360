import { readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT, type ShoalProcess } from '../support/processes.js';
import { pollUntil } from '../support/poll-until.js';
import { runTool, startS3Cluster, type S3Cluster } from '../support/s3-cluster.js';

/**
 * PutObject and UploadPart stream to the owners as the body arrives (no staging first), while every check runs on
 * the way; a check that fails at the end leaves nothing on any node. CopyObject references the source's content.
 */
const SCRIPT = path.join(REPO_ROOT, 'test', 'e2e', 's3', 'streaming_checks.py');
const MiB = 1024 * 1024;

describe('S3 API: streamed writes and copies by reference', () => {
  let s3: S3Cluster;

  beforeAll(async () => {
    s3 = await startS3Cluster(3, { SYNC_INTERVAL_MS: '1000' });
  }, 90_000);

  afterAll(async () => {
    await s3?.stop();
  });

  const run = async (args: string[], node = 0) => {
    const r = await runTool('python3', [SCRIPT, args[0], s3.endpoints[node], ...args.slice(1)], { home: s3.home, timeoutMs: 180_000 });
    if (r.code !== 0) throw new Error(`${args[0]} failed (exit ${r.code}):\n${r.stderr}\n${r.stdout}`);
    return r.stdout.trim();
  };

  /** Every entry (tombstones included) one node holds under `prefix`, from its own store. */
  const localEntries = async (node: ShoalProcess, prefix: string) => {
    const res = await fetch(`${node.url}/internal/entries?prefix=${encodeURIComponent(prefix)}`, { headers: { authorization: `Bearer ${s3.cluster.token}` } });
    expect(res.status).toBe(200);
    return ((await res.json()) as { entries: { key: string; sha256: string; deleted: boolean; meta?: Record<string, string> }[] }).entries;
  };

  const tmpBytes = async (node: ShoalProcess) => {
    const dir = path.join(node.dataDir, 'tmp');
    let total = 0;
    for (const f of await readdir(dir).catch(() => [] as string[])) total += (await stat(path.join(dir, f)).catch(() => ({ size: 0 }))).size;
    return total;
  };

  it('a wrong Content-MD5 or x-amz-checksum-sha256 on a multi-MiB PutObject (and UploadPart) leaves nothing on any node', async () => {
    const bucket = 'stream-digests';
    const uploadId = await run(['bad_digests', bucket], 1);
    for (const node of s3.cluster.nodes) {
      const keys = (await localEntries(node, `${bucket}/`)).map((e) => e.key);
      expect(keys).toEqual([`${bucket}/good`]);
      expect(await localEntries(node, `.shoal-s3/parts/${uploadId}/`)).toEqual([]);
    }
    // What the owners received of the refused bodies was discarded, not kept in tmp/.
    await pollUntil(async () => {
      for (const node of s3.cluster.nodes) expect(await tmpBytes(node)).toBe(0);
    }, { timeoutMs: 10_000, message: 'refused bodies left bytes in tmp/' });
  }, 120_000);

  it('a 512 MiB PutObject streams: the owners receive it while it arrives, and the coordinator\'s memory stays flat', async () => {
    const file = path.join(s3.home, 'big.bin');
    await writeFile(file, '');
    await truncate(file, 512 * MiB); // sparse: the client reads zeros without the disk holding them
    const [coordinator, ...others] = s3.cluster.nodes;
    const rss = async () => Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${coordinator.pid}/status`, 'utf8'))![1]) * 1024;
    const before = await rss();
    let peak = before;
    // Samples where both remote owners already hold 64 MiB of the body while the coordinator has not received it all.
    let pipelined = 0;
    let done = false;
    const put = run(['put_file', 'stream-big', 'big', file]).finally(() => (done = true));
    while (!done) {
      peak = Math.max(peak, await rss());
      const [mine, ...theirs] = await Promise.all([coordinator, ...others].map(tmpBytes));
      if (!done && Math.min(...theirs) > 64 * MiB && mine < 448 * MiB) pipelined++;
      await new Promise((r) => setTimeout(r, 100));
    }
    const etag = await put;
    await rm(file);
    expect(etag).toBe('aa559b4e3523a6c931f08f4df52d58f2'); // MD5 of 512 MiB of zeros
    // Staging first, the owners would get nothing before the coordinator had all 512 MiB.
    expect(pipelined).toBeGreaterThan(0);
    // Memory does not grow with the body (512 MiB): a bounded amount of buffers in flight.
    expect(peak - before).toBeLessThan(96 * MiB);
    for (const node of s3.cluster.nodes) {
      const [e] = await localEntries(node, 'stream-big/big');
      expect(e.meta?.md5).toBe(etag);
    }
  }, 240_000);

  it('CopyObject references the source\'s content: a 64 MiB copy (plain and multipart, across buckets) still reads on every node after its source is deleted and swept', async () => {
    const bucket = 'stream-copy';
    const sha = await run(['copy_then_delete', bucket, '64'], 2);
    const auth = { authorization: `Bearer ${s3.cluster.token}` };
    const live = async (node: ShoalProcess, prefix: string) => (await localEntries(node, prefix)).filter((e) => !e.deleted);
    // The plain copies are the source's blob: same SHA-256 on every owner.
    for (const node of s3.cluster.nodes) {
      expect((await live(node, `${bucket}/`)).map((e) => [e.key, e.sha256])).toEqual([[`${bucket}/plain-copy`, sha]]);
      expect((await live(node, `${bucket}-other/plain-copy`)).map((e) => e.sha256)).toEqual([sha]);
    }
    // The multipart copy is a manifest of its own parts, which reference the source parts' blobs. Once the source is
    // deleted, the sweeper frees the source's parts and receipt; the copy's stay.
    const [copy] = await live(s3.cluster.nodes[0], `${bucket}-other/multi-copy`);
    const copyUpload = copy.meta?.['x-shoal-upload-id'];
    expect(copyUpload).toMatch(/^[0-9a-f]{32}$/);
    await pollUntil(async () => {
      for (const node of s3.cluster.nodes) {
        const parts = await live(node, '.shoal-s3/parts/');
        expect(parts.map((p) => p.key.split('/')[2])).toEqual([copyUpload, copyUpload]);
      }
    }, { timeoutMs: 30_000, message: 'the parts of the deleted source were not freed, or the copy\'s were' });
    // Every node still holds every blob the copies use, and serves the copies whole and by range.
    const partShas = (await live(s3.cluster.nodes[0], `.shoal-s3/parts/${copyUpload}/`)).map((p) => p.sha256);
    for (const node of s3.cluster.nodes) {
      for (const blob of [sha, ...partShas]) {
        const res = await fetch(`${node.url}/internal/blobs/${blob}`, { headers: auth });
        expect(res.status).toBe(200);
        await res.arrayBuffer();
      }
    }
    for (const i of [0, 1, 2]) expect(await run(['read_back', bucket, sha], i)).toBe('OK');
  }, 180_000);

  it('conditional PutObjects racing from every node: at most one If-None-Match: * create and one If-Match replace win each round', async () => {
    const r = await runTool('python3', [SCRIPT, 'race', s3.endpoints.join(','), 'stream-race', '4'], { home: s3.home, timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`race failed (exit ${r.code}):\n${r.stderr}\n${r.stdout}`);
    expect(r.stdout.trim()).toBe('OK');
  }, 150_000);

  it('UploadPartCopy of whole pieces references them; the assembled copy reads on every node after its sources are deleted and swept', async () => {
    const bucket = 'stream-part-copy';
    const live = async (node: ShoalProcess, prefix: string) => (await localEntries(node, prefix)).filter((e) => !e.deleted);
    const uploadsWithParts = async (node: ShoalProcess) => [...new Set((await live(node, '.shoal-s3/parts/')).map((p) => p.key.split('/')[2]))].sort();
    const before = await uploadsWithParts(s3.cluster.nodes[0]);
    const sha = await run(['part_copy', bucket], 1);
    const [dst] = await live(s3.cluster.nodes[0], `${bucket}/dst`);
    const dstUpload = dst.meta?.['x-shoal-upload-id'] as string;
    // The source's parts go once the sweeper sees that nothing names them; the copy's four stay, on every node.
    await pollUntil(async () => {
      for (const node of s3.cluster.nodes) {
        expect(await uploadsWithParts(node)).toEqual([...before, dstUpload].sort());
        expect(await live(node, `.shoal-s3/parts/${dstUpload}/`)).toHaveLength(4);
      }
    }, { timeoutMs: 30_000, message: 'the source\'s parts were not freed, or the copy\'s were' });
    for (const i of [0, 1, 2]) expect(await run(['read_one', bucket, 'dst', sha], i)).toBe('OK');
  }, 120_000);
});
