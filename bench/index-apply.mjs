#!/usr/bin/env node
// The entry index alone, no HTTP: concurrent applies of distinct 4 KiB files (the inline path every small PUT and
// every replicated small entry takes), applies/s and the process's CPU per apply (all threads: LMDB's writer, the
// thread pool's writes and fdatasyncs) — against another build in the same run, builds taking turns.
//   node bench/index-apply.mjs [--count 20000] [--concurrency 16] [--rounds 2] [--before DIR]
// DIR: a built Shoal checkout (its dist/). Each run writes to a temp dir it removes.
import crypto from 'node:crypto';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { makeTempDir, removeDir } from './lib/util.mjs';

const REPO = path.dirname(path.dirname(new URL(import.meta.url).pathname));
const opts = parseArgs({ options: { count: { type: 'string', default: '20000' }, concurrency: { type: 'string', default: '16' }, rounds: { type: 'string', default: '2' }, before: { type: 'string' }, child: { type: 'string' } } }).values;
const count = Math.min(200_000, Math.max(100, Number(opts.count) || 20000));
const concurrency = Math.min(256, Math.max(1, Number(opts.concurrency) || 16));

if (opts.child) {
  const dist = (f) => pathToFileURL(path.join(opts.child, 'dist', 'node', 'storage', f)).href;
  const { LmdbEntryIndex } = await import(dist('lmdb-entry-index.js'));
  const { LmdbEnvironment } = await import(dist('lmdb-environment.js'));
  const { encodeVersion } = await import(dist('hlc.js'));
  const dir = makeTempDir('shoal-index-apply');
  const env = new LmdbEnvironment(dir);
  const index = new LmdbEntryIndex(env);
  const base = crypto.randomBytes(4096);
  let next = 0;
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const body = Buffer.from(base);
      body.writeUInt32BE(i, 0);
      const sha256 = crypto.createHash('sha256').update(body).digest('hex');
      await index.apply({ key: `k${i}`, version: encodeVersion(1_000, i, 'n1'), sha256, size: body.length, contentType: 'application/octet-stream', updatedAt: 1, deleted: false }, i % 1024, body);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(c0);
  index.close?.();
  await env.close();
  removeDir(dir);
  console.log(JSON.stringify({ perSec: count / seconds, cpuUs: (cpu.user + cpu.system) / count, userUs: cpu.user / count, sysUs: cpu.system / count }));
  process.exit(0);
}

const builds = [['this tree', REPO], ...(opts.before ? [['before', path.resolve(opts.before)]] : [])];
const results = new Map(builds.map(([name]) => [name, []]));
const rounds = Math.min(10, Math.max(1, Number(opts.rounds) || 2));
for (let round = 1; round <= rounds; round++) {
  for (const [name, dir] of builds) {
    const r = spawnSync(process.execPath, [new URL(import.meta.url).pathname, '--child', dir, '--count', String(count), '--concurrency', String(concurrency)], { encoding: 'utf8', timeout: 10 * 60 * 1000 });
    if (r.status !== 0) throw new Error(`${name}: ${r.stderr}`);
    const m = JSON.parse(r.stdout.trim().split('\n').pop());
    results.get(name).push(m);
    console.log(`# ${name} (round ${round}): ${m.perSec.toFixed(0)} applies/s, CPU ${m.cpuUs.toFixed(0)} µs/apply (user ${m.userUs.toFixed(0)}, sys ${m.sysUs.toFixed(0)})`);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`\n${count} applies of distinct 4 KiB files, ${concurrency} at a time, ${rounds} round(s), medians:`);
for (const [name, ms] of results) console.log(`- ${name}: ${median(ms.map((m) => m.perSec)).toFixed(0)} applies/s, ${median(ms.map((m) => m.cpuUs)).toFixed(0)} µs CPU per apply`);
if (opts.before) {
  const [a, b] = [results.get('this tree'), results.get('before')];
  console.log(`- this tree / before: applies/s ${(median(a.map((m) => m.perSec)) / median(b.map((m) => m.perSec))).toFixed(2)}, CPU per apply ${(median(a.map((m) => m.cpuUs)) / median(b.map((m) => m.cpuUs))).toFixed(2)}×`);
}
