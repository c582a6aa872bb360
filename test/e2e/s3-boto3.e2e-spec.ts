import { existsSync } from 'node:fs';
import path from 'node:path';
import { pollUntil } from '../support/poll-until.js';
import { REPO_ROOT } from '../support/processes.js';
import { runTool, S3_READ_KEY, startS3Cluster, type S3Cluster } from '../support/s3-cluster.js';

/**
 * boto3 (the AWS SDK for Python) against a real 3-node cluster's S3 API. Each scenario is a function of
 * s3/boto3_checks.py run in its own python process; it asserts with boto3's own view of the answers (ETags, codes,
 * bytes) and prints OK.
 */
const SCRIPT = path.join(REPO_ROOT, 'test', 'e2e', 's3', 'boto3_checks.py');
const FAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

describe('S3 API with boto3', () => {
  let s3: S3Cluster;
  let n = 0;

  beforeAll(async () => {
    // A short sync interval: the multipart sweeper runs at that pace.
    s3 = await startS3Cluster(3, { SYNC_INTERVAL_MS: '1000' });
  }, 90_000);

  afterAll(async () => {
    await s3?.stop();
  });

  const run = async (scenario: string, node = 0, extraEnv: Record<string, string> = {}, args: string[] = []) => {
    const bucket = `boto3-${scenario}-${++n}`;
    const r = await runTool('python3', [SCRIPT, scenario, s3.endpoints[node], bucket, ...args], {
      home: s3.home,
      env: { S3_READ_KEY_ID: S3_READ_KEY.id, S3_READ_SECRET: S3_READ_KEY.secret, ...extraEnv },
    });
    if (r.code !== 0) throw new Error(`${scenario} failed (exit ${r.code}):\n${r.stderr}\n${r.stdout}`);
    return r.stdout.trim();
  };

  it('buckets, objects with metadata, odd and 1024-byte keys, listings, copies and DeleteObjects', async () => {
    expect(await run('basic')).toBe('OK');
  }, 120_000);

  it('conditional GET and PUT (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since)', async () => {
    expect(await run('conditional', 1)).toBe('OK');
  });

  it('multipart: parts out of order and retried, ListParts, idempotent Complete, partNumber GET, abort, UploadPartCopy', async () => {
    expect(await run('multipart', 2)).toBe('OK');
  }, 120_000);

  it('refuses a wrong secret, an unknown key, a read-only key writing, bad digests, a forged signature, an expired URL', async () => {
    expect(await run('refused')).toBe('OK');
  }, 60_000);

  (existsSync(FAKETIME) ? it : it.skip)('refuses a client whose clock is 20 minutes off with RequestTimeTooSkewed', async () => {
    expect(await run('skewed', 0, { LD_PRELOAD: FAKETIME, FAKETIME: '-20m', FAKETIME_DONT_FAKE_MONOTONIC: '1' })).toBe('OK');
  });

  it('virtual-host style addressing', async () => {
    expect(await run('vhost', 1)).toBe('OK');
  });

  it('aws-chunked bodies: signed chunks (a forged one refused) and unsigned chunks with checksum trailers', async () => {
    expect(await run('chunked', 2)).toBe('OK');
  }, 60_000);

  it('a completed upload is a manifest of its parts: they stay while the object names them, and are freed once it is overwritten', async () => {
    const bucket = 'boto3-superseded';
    const done = await runTool('python3', [SCRIPT, 'mp-complete', s3.endpoints[1], bucket], { home: s3.home });
    if (done.code !== 0) throw new Error(done.stderr);
    const uploadId = done.stdout.trim();
    const liveParts = async () => {
      const res = await fetch(`${s3.cluster.nodes[2].url}/internal/entries?prefix=${encodeURIComponent(`.shoal-s3/parts/${uploadId}/`)}`, { headers: { authorization: `Bearer ${s3.cluster.token}` } });
      const body = (await res.json()) as { entries: { deleted: boolean }[] };
      return body.entries.filter((e) => !e.deleted).length;
    };
    expect(await liveParts()).toBe(2);
    // The same bytes through /v1: the manifest is resolved there too.
    const v1 = await fetch(`${s3.cluster.nodes[0].url}/v1/files/${bucket}/superseded`);
    expect(Number(v1.headers.get('content-length'))).toBe(5 * 1024 * 1024 + 4);
    expect((await v1.arrayBuffer()).byteLength).toBe(5 * 1024 * 1024 + 4);
    // Several sweeps later the parts are still there: the object refers to them.
    await new Promise((r) => setTimeout(r, 3000));
    expect(await liveParts()).toBe(2);
    expect((await runTool('python3', [SCRIPT, 'overwrite', s3.endpoints[0], bucket], { home: s3.home })).code).toBe(0);
    await pollUntil(async () => expect(await liveParts()).toBe(0), { timeoutMs: 20_000, message: 'the parts of the overwritten object were not freed' });
  }, 60_000);

  it('a multipart upload survives the kill -9 of the node it started on and completes through another', async () => {
    const bucket = 'boto3-survivor';
    const started = await runTool('python3', [SCRIPT, 'mp-start', s3.endpoints[0], bucket], { home: s3.home });
    if (started.code !== 0) throw new Error(started.stderr);
    const [uploadId, etag] = started.stdout.trim().split(' ');
    s3.cluster.nodes[0].kill('SIGKILL');
    await s3.cluster.nodes[0].waitExit();
    const finished = await runTool('python3', [SCRIPT, 'mp-finish', s3.endpoints[1], bucket, uploadId, etag], { home: s3.home });
    if (finished.code !== 0) throw new Error(`${finished.stderr}\n${finished.stdout}`);
    expect(finished.stdout.trim()).toBe('OK');
  }, 90_000);

  it('answers 503 SlowDown when fewer than W owners are up (after the node above, a second one is killed)', async () => {
    s3.cluster.nodes[1].kill('SIGKILL');
    await s3.cluster.nodes[1].waitExit();
    // The survivor must see them down before it refuses (NODE_TTL_MS of the test registry is 1.5 s).
    await pollUntil(async () => expect(await run('slowdown', 2, {}, [])).toBe('OK'), { timeoutMs: 20_000, message: 'writes were not refused with SlowDown' });
  }, 60_000);
});
