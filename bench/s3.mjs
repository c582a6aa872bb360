#!/usr/bin/env node
// S3 API benchmark (issue #13): in one run, against one 3-node cluster started with scripts/cluster.mjs,
//   - a large file PUT and GET through `aws s3 cp` against the same through /v1 with curl,
//   - the CompleteMultipartUpload time of that aws upload (from the node's own metric),
//   - 4 KiB PutObject/GetObject req/s at 16 concurrent clients against /v1's.
//   - the same PUT as one PutObject with curl --aws-sigv4 (the server's S3 write path without the Python client),
//   - the same `aws s3 cp` PUT and GET against a do-nothing S3 server (bench/lib/s3-sink.mjs): the client's own
//     ceiling here, so that the gap to curl is split into the client's share and the server's,
//   - /v1 GET with curl writing the download to disk, as `aws s3 cp` does,
//   - optionally the aws CLI with other s3 settings (--aws-variants 'max_concurrent_requests=4,multipart_chunksize=64MB;…').
//   node bench/s3.mjs [--large-mib 1024] [--rounds 3] [--small-count 2000] [--concurrency 16] [--aws-variants …]
// Everything runs on 127.0.0.1, every loop is bounded, and every process started here is stopped here.
import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { makeLargeFile, curlGet, curlPut } from './lib/large.mjs';
import { makeBodies, runLoad } from './lib/loadgen.mjs';
import { startS3Sink } from './lib/s3-sink.mjs';
import { freePort, LOOPBACK, makeTempDir, MiB, removeDir } from './lib/util.mjs';

const REPO = path.dirname(path.dirname(new URL(import.meta.url).pathname));
const { values: opts } = parseArgs({
  options: {
    'large-mib': { type: 'string', default: '1024' },
    'small-count': { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '16' },
    'aws-variants': { type: 'string', default: '' },
    rounds: { type: 'string', default: '3' },
  },
});
const largeMib = Number(opts['large-mib']);
const smallCount = Number(opts['small-count']);
const concurrency = Number(opts.concurrency);
const roundCount = Math.min(10, Math.max(1, Number(opts.rounds) || 3));

const { deriveSigningKey, hmac, sha256Hex } = await import(path.join(REPO, 'dist/node/s3/auth/sigv4.js'));
const { canonicalUri } = await import(path.join(REPO, 'dist/node/s3/auth/canonical.js'));

const work = makeTempDir('shoal-bench-s3');
const home = path.join(work, 'home');
fs.mkdirSync(home);
let cluster;
try {
  const registryPort = await freePort();
  const basePort = (await freePort()) + 10;
  const s3Base = basePort + 100;
  cluster = spawn(process.execPath, ['scripts/cluster.mjs', '--data', path.join(work, 'data'), '--registry-port', String(registryPort), '--base-port', String(basePort), '--s3-base-port', String(s3Base)], {
    cwd: REPO,
    env: { PATH: process.env.PATH, LOG_LEVEL: 'warn', SCRUB_BYTES_PER_SEC: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let banner = '';
  cluster.stdout.on('data', (d) => (banner += d));
  cluster.stderr.on('data', (d) => (banner += d));
  const deadline = Date.now() + 120_000;
  while (!banner.includes('Ctrl-C stops the cluster')) {
    if (Date.now() > deadline || cluster.exitCode !== null) throw new Error(`cluster did not start:\n${banner}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const [keyId, secret] = fs.readFileSync(path.join(work, 'data', 's3-credentials'), 'utf8').trim().split(':');
  const v1 = `http://${LOOPBACK}:${basePort + 1}`;
  const s3 = `http://${LOOPBACK}:${s3Base + 1}`;
  const env = { PATH: process.env.PATH, HOME: home, PYENV_ROOT: process.env.PYENV_ROOT ?? path.join(os.homedir(), '.pyenv'), AWS_ACCESS_KEY_ID: keyId, AWS_SECRET_ACCESS_KEY: secret, AWS_DEFAULT_REGION: 'us-east-1' };
  const run = (cmd, args) =>
    new Promise((resolve, reject) => {
      const t0 = process.hrtime.bigint();
      execFile(cmd, args, { env, timeout: 600_000, maxBuffer: 16 * MiB }, (err, stdout, stderr) => (err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`)) : resolve({ seconds: Number(process.hrtime.bigint() - t0) / 1e9, stdout })));
    });
  const results = {};

  console.error(`making a ${largeMib} MiB file…`);
  const large = await makeLargeFile(work, largeMib);
  console.error('/v1 with curl…');
  // /v1 and aws s3 cp alternate, round after round, so that a slow moment of this shared host hits both sides;
  // the table gives medians and every round's own ratio.
  await run('aws', ['--endpoint-url', s3, 's3', 'mb', 's3://bench']);
  const back = path.join(work, 'back.bin');
  /** One `aws s3 cp` of the large file, up or down; its rate in MiB/s. */
  const awsCp = async (endpoint, from, to) => +(largeMib / (await run('aws', ['--endpoint-url', endpoint, 's3', 'cp', from, to, '--quiet'])).seconds).toFixed(1);
  const rounds = [];
  let same = true;
  const v1Notes = [];
  for (let i = 0; i < roundCount; i++) {
    console.error(`round ${i + 1}/${roundCount}: /v1 with curl, then aws s3 cp…`);
    const v1Put = await curlPut(large, `${v1}/v1/files/bench/v1-${i}.bin`, work);
    const s3Put = await awsCp(s3, large.path, `s3://bench/s3-${i}.bin`);
    const v1Get = await curlGet(large, `${v1}/v1/files/bench/v1-${i}.bin`, work);
    const s3Get = await awsCp(s3, `s3://bench/s3-${i}.bin`, back);
    same &&= crypto.createHash('sha256').update(fs.readFileSync(back)).digest('hex') === large.sha256;
    fs.rmSync(back);
    const v1GetFile = await curlGet(large, `${v1}/v1/files/bench/v1-${i}.bin`, work, { out: path.join(work, 'v1-back.bin') });
    fs.rmSync(path.join(work, 'v1-back.bin'), { force: true });
    for (const r of [v1Put, v1Get, v1GetFile]) if (!r.ok) v1Notes.push(r.note);
    if (i > 0) {
      // keep the disk bounded: round 0's objects stay for the presigned GET below
      await fetch(`${v1}/v1/files/bench/v1-${i}.bin`, { method: 'DELETE' });
      await fetch(`${v1}/v1/files/bench/s3-${i}.bin`, { method: 'DELETE' });
    }
    rounds.push({ v1Put: v1Put.mibPerSec, v1Get: v1Get.mibPerSec, v1GetFile: v1GetFile.mibPerSec, s3Put, s3Get });
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  const med = (k) => median(rounds.map((r) => r[k]));
  results.rounds = rounds;
  results.v1 = { putMiBps: med('v1Put'), getMiBps: med('v1Get'), getToFileMiBps: med('v1GetFile'), ok: v1Notes.length === 0, note: v1Notes.join('; ') };
  results.s3 = { putMiBps: med('s3Put'), getMiBps: med('s3Get'), sameBytes: same };
  // The same transfers against a server that does nothing: what the aws CLI itself reaches on this machine.
  const sink = await startS3Sink(await freePort());
  try {
    await run('aws', ['--endpoint-url', sink.url, 's3', 'mb', 's3://bench']);
    const putMiBps = await awsCp(sink.url, large.path, 's3://bench/s3.bin');
    const getMiBps = await awsCp(sink.url, 's3://bench/s3.bin', back);
    fs.rmSync(back);
    results.sink = { putMiBps, getMiBps };
  } finally {
    await sink.close();
  }
  // The same object through curl (a presigned URL): the server's S3 read path without the Python client's cost.
  const presigned = (await run('aws', ['--endpoint-url', s3, 's3', 'presign', 's3://bench/s3-0.bin'])).stdout.trim();
  const curlS3 = await curlGet(large, presigned, work);
  results.s3.curlGetMiBps = curlS3.ok ? curlS3.mibPerSec : NaN;
  // One PutObject with curl: the server's streamed S3 write path against /v1's, the same client on both sides.
  const curlS3Put = await curlPut(large, `${s3}/bench/curl.bin`, work, ['--aws-sigv4', 'aws:amz:us-east-1:s3', '--user', `${keyId}:${secret}`, '-H', 'x-amz-content-sha256: UNSIGNED-PAYLOAD']);
  results.s3.curlPutMiBps = curlS3Put.ok ? curlS3Put.mibPerSec : NaN;
  if (!curlS3Put.ok) console.error(`curl PutObject: ${curlS3Put.note}`);
  // The aws CLI with other transfer settings (written to its config file), to see what limits it.
  results.variants = [];
  for (const variant of opts['aws-variants'].split(';').filter(Boolean)) {
    const settings = variant.split(',').map((kv) => kv.split('='));
    fs.mkdirSync(path.join(home, '.aws'), { recursive: true });
    fs.writeFileSync(path.join(home, '.aws', 'config'), `[default]\ns3 =\n${settings.map(([k, v]) => `  ${k} = ${v}\n`).join('')}`);
    const putMiBps = await awsCp(s3, large.path, 's3://bench/variant.bin');
    const getMiBps = await awsCp(s3, 's3://bench/variant.bin', back);
    fs.rmSync(back);
    results.variants.push({ variant, putMiBps, getMiBps });
  }
  fs.rmSync(path.join(home, '.aws'), { recursive: true, force: true });
  const metrics = await (await fetch(`${v1}/metrics`)).text();
  const metric = (name) => Number(new RegExp(`^${name}\\{operation="CompleteMultipartUpload"\\} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);
  results.complete = { seconds: +(metric('shoal_s3_request_duration_seconds_sum') / metric('shoal_s3_request_duration_seconds_count')).toFixed(3), parts: Math.ceil(largeMib / 8) };

  console.error('4 KiB requests…');
  const bodies = makeBodies(smallCount, 4096);
  const sign = (method, url) => {
    const u = new URL(url);
    const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const scope = `${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request`;
    const headers = { host: u.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'x-amz-date': amzDate };
    const signed = 'host;x-amz-content-sha256;x-amz-date';
    const canonical = [method, canonicalUri(u.pathname), '', `host:${u.host}\nx-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:${amzDate}\n`, signed, 'UNSIGNED-PAYLOAD'].join('\n');
    const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonical)].join('\n');
    const signature = hmac(deriveSigningKey(secret, amzDate.slice(0, 8), 'us-east-1'), toSign).toString('hex');
    return { ...headers, authorization: `AWS4-HMAC-SHA256 Credential=${keyId}/${scope}, SignedHeaders=${signed}, Signature=${signature}` };
  };
  const small = async (base, pathOf, headersFor) => {
    const put = await runLoad({ method: 'PUT', count: smallCount, concurrency, urlFor: (i) => `${base}${pathOf(i)}`, bodyFor: (i) => bodies[i], headersFor: (i, url) => headersFor('PUT', url), ok: (r) => r.status === 200 || r.status === 201 });
    const get = await runLoad({ method: 'GET', count: smallCount, concurrency, urlFor: (i) => `${base}${pathOf(i)}`, headersFor: (i, url) => headersFor('GET', url), ok: (r) => r.status === 200 && r.bytes === 4096 });
    return { put: put.reqPerSec, putP99: put.p99ms, putErrors: put.errors, get: get.reqPerSec, getP99: get.p99ms, getErrors: get.errors, firstError: put.firstError ?? get.firstError };
  };
  results.smallV1 = await small(v1, (i) => `/v1/files/small/${i}`, () => ({}));
  results.smallS3 = await small(s3, (i) => `/bench/small/${i}`, sign);

  const pct = (a, b) => `${Math.round((100 * a) / b)} %`;
  const lines = [
    `S3 benchmark, ${new Date().toISOString()}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} (shared machine: figures taken under contention)`,
    '',
    `| measure | /v1 | S3 | S3 / v1 |`,
    `|---|--:|--:|--:|`,
    `| PUT ${largeMib} MiB (curl -T vs aws s3 cp, multipart 8 MiB parts), median of ${roundCount} MiB/s | ${results.v1.putMiBps} | ${results.s3.putMiBps} | ${pct(results.s3.putMiBps, results.v1.putMiBps)} |`,
    `| GET ${largeMib} MiB (curl vs aws s3 cp), median of ${roundCount} MiB/s | ${results.v1.getMiBps} | ${results.s3.getMiBps} | ${pct(results.s3.getMiBps, results.v1.getMiBps)} |`,
    `| aws s3 cp against a do-nothing S3 server (the client's own ceiling): PUT / GET ${largeMib} MiB MiB/s | | ${results.sink.putMiBps} / ${results.sink.getMiBps} | |`,
    `| aws s3 cp to Shoal / to the do-nothing server: PUT · GET | | | ${pct(results.s3.putMiBps, results.sink.putMiBps)} · ${pct(results.s3.getMiBps, results.sink.getMiBps)} |`,
    `| GET ${largeMib} MiB to a file on disk (curl -o file vs aws s3 cp) MiB/s | ${results.v1.getToFileMiBps} | ${results.s3.getMiBps} | ${pct(results.s3.getMiBps, results.v1.getToFileMiBps)} |`,
    `| GET ${largeMib} MiB, both with curl (S3: presigned URL) MiB/s | ${results.v1.getMiBps} | ${results.s3.curlGetMiBps} | ${pct(results.s3.curlGetMiBps, results.v1.getMiBps)} |`,
    `| PUT ${largeMib} MiB, both with curl (S3: one PutObject, --aws-sigv4) MiB/s | ${results.v1.putMiBps} | ${results.s3.curlPutMiBps} | ${pct(results.s3.curlPutMiBps, results.v1.putMiBps)} |`,
    ...results.variants.flatMap((v) => [
      `| PUT ${largeMib} MiB, aws s3 cp with ${v.variant} MiB/s | ${results.v1.putMiBps} | ${v.putMiBps} | ${pct(v.putMiBps, results.v1.putMiBps)} |`,
      `| GET ${largeMib} MiB, aws s3 cp with ${v.variant} MiB/s | ${results.v1.getMiBps} | ${v.getMiBps} | ${pct(v.getMiBps, results.v1.getMiBps)} |`,
    ]),
    `| 4 KiB PUT req/s (c=${concurrency}) | ${results.smallV1.put} | ${results.smallS3.put} | ${pct(results.smallS3.put, results.smallV1.put)} |`,
    `| 4 KiB GET req/s (c=${concurrency}) | ${results.smallV1.get} | ${results.smallS3.get} | ${pct(results.smallS3.get, results.smallV1.get)} |`,
    '',
    `Each round's aws s3 cp / curl: PUT ${rounds.map((r) => pct(r.s3Put, r.v1Put)).join(', ')}; GET ${rounds.map((r) => pct(r.s3Get, r.v1Get)).join(', ')} (to a file on both sides: ${rounds.map((r) => pct(r.s3Get, r.v1GetFile)).join(', ')}).`,
    '',
    `CompleteMultipartUpload of the ${largeMib} MiB aws upload (${results.complete.parts} parts): ${results.complete.seconds} s (node metric). Bytes back equal: ${results.s3.sameBytes}.`,
  ];
  console.log(lines.join('\n'));
  console.error(JSON.stringify(results));
} finally {
  if (cluster && cluster.exitCode === null) {
    cluster.kill('SIGINT');
    await new Promise((r) => cluster.once('exit', r));
  }
  removeDir(work);
}
