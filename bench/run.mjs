#!/usr/bin/env node
// Shoal benchmark: one command, several servers under test, one markdown table.
//   node bench/run.mjs [--only ceiling,single,n3,nginx] [--large-mib 1024] [--small-count 4000] [--write-doc]
// Everything runs on 127.0.0.1; every loop and every wait is bounded; every process started here is stopped here.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { makeTempDir, removeDir, machineInfo, MiB, parseCli } from './lib/util.mjs';
import { killAllSync } from './lib/proc.mjs';
import { RssSampler } from './lib/rss.mjs';
import { makeBodies, runLoad } from './lib/loadgen.mjs';
import { makeLargeFile, curlPut, curlGet } from './lib/large.mjs';
import { SkipError, startCeiling, startShoal, startNginx } from './lib/targets.mjs';
import { renderReport, writeDoc } from './lib/report.mjs';

const REPO = path.dirname(path.dirname(new URL(import.meta.url).pathname));
const SMALL = 4096;

const SCENARIOS = {
  ceiling: { desc: 'bare node:http server (bench/ceiling-server.mjs): sha256 while streaming, fsync, rename', start: (ctx) => startCeiling(ctx) },
  single: { desc: 'Shoal, 1 registry + 1 node, N=1 W=1 R=1', start: (ctx) => startShoal(ctx, { name: 'single', nodes: 1, n: 1, w: 1, r: 1 }) },
  n3: { desc: 'Shoal, 1 registry + 3 nodes, N=3 W=2 R=2, all traffic through node 1', start: (ctx) => startShoal(ctx, { name: 'n3', nodes: 3, n: 3, w: 2, r: 2 }) },
  nginx: { desc: 'nginx WebDAV PUT/GET (no fsync): the speed of a store that promises no durability', start: (ctx) => startNginx(ctx) },
};

const HELP = `usage: node bench/run.mjs [options]
  --only LIST          scenarios to run, comma-separated, from: ${Object.keys(SCENARIOS).join(',')} (default: all)
  --large-mib N        size of the large file in MiB (default 1024)
  --small-count N      number of 4 KiB PUTs, then GETs (default 4000)
  --concurrency N      concurrent small requests (default 16)
  --log-level L        LOG_LEVEL for Shoal processes (default warn)
  --env K=V            extra environment for Shoal nodes (repeatable), e.g. --env SCRUB_BYTES_PER_SEC=0
  --write-doc          replace the results section of docs/benchmarks.md (or --doc PATH)
  --doc PATH           document to write with --write-doc (default docs/benchmarks.md)
  --json PATH          also write the raw results as JSON
  --keep               keep temp dirs, data dirs and logs
  --repo DIR           Shoal checkout whose dist/main.js is benchmarked (default: this one)
Exit status 1 when a scenario failed (a skipped scenario or a missed target does not fail the run).`;

const opts = parseCli(
  {
    only: { type: 'string' },
    'large-mib': { type: 'string', default: '1024' },
    'small-count': { type: 'string', default: '4000' },
    concurrency: { type: 'string', default: '16' },
    'log-level': { type: 'string', default: 'warn' },
    env: { type: 'string', multiple: true, default: [] },
    'write-doc': { type: 'boolean', default: false },
    doc: { type: 'string', default: path.join(REPO, 'docs', 'benchmarks.md') },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
    repo: { type: 'string', default: REPO },
    help: { type: 'boolean', short: 'h', default: false },
  },
  HELP,
);
const intOpt = (name, min, max) => {
  const v = Number(opts[name]);
  if (!Number.isInteger(v) || v < min || v > max) {
    console.error(`--${name} must be an integer in [${min}, ${max}], got ${opts[name]}`);
    process.exit(2);
  }
  return v;
};
const largeMib = intOpt('large-mib', 1, 64 * 1024);
const smallCount = intOpt('small-count', 1, 1_000_000);
const concurrency = intOpt('concurrency', 1, 1024);
const only = opts.only ? opts.only.split(',').map((s) => s.trim()).filter(Boolean) : Object.keys(SCENARIOS);
for (const o of only) {
  if (!SCENARIOS[o]) {
    console.error(`unknown scenario "${o}"; known: ${Object.keys(SCENARIOS).join(', ')}`);
    process.exit(2);
  }
}
const selected = Object.keys(SCENARIOS).filter((s) => only.includes(s)); // fixed order: ceiling first
const shoalEnv = {};
for (const kv of opts.env) {
  const i = kv.indexOf('=');
  if (i <= 0) {
    console.error(`--env wants KEY=VALUE, got ${kv}`);
    process.exit(2);
  }
  shoalEnv[kv.slice(0, i)] = kv.slice(i + 1);
}
const shoalEnvText = Object.entries({ LOG_LEVEL: opts['log-level'], ...shoalEnv })
  .map(([k, v]) => `${k}=${v}`)
  .join(' ') + ' (everything else at its default)';
const command = `node bench/run.mjs${process.argv.slice(2).length ? ' ' + process.argv.slice(2).join(' ') : ''}`;

const runDir = makeTempDir('run');
const logDir = path.join(runDir, 'logs');
fs.mkdirSync(logDir);
let keepLogs = opts.keep;
// Everything (large file, data dirs, logs) lives under runDir. --keep keeps it all; after a failure only logs/ is kept.
const cleanup = () => {
  killAllSync();
  if (opts.keep) return;
  if (!keepLogs) return removeDir(runDir);
  for (const f of fs.readdirSync(runDir)) if (f !== 'logs') removeDir(path.join(runDir, f));
};
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    console.error(`\n# ${sig}: stopping the servers and cleaning ${runDir}`);
    cleanup();
    process.exit(130);
  });
}

const ctx = { repoDir: path.resolve(opts.repo), runDir, logDir, keep: opts.keep, logLevel: opts['log-level'], shoalEnv };
const machine = machineInfo(ctx.repoDir);
console.log(`# Shoal benchmark — ${machine.date}`);
console.log(`# ${machine.nproc} cores, ${machine.cpuModel}, Node ${machine.node}; scenarios: ${selected.join(', ')}; large ${largeMib} MiB; small ${smallCount} × 4 KiB at c=${concurrency}`);

const t0 = Date.now();
const large = await makeLargeFile(runDir, largeMib);
console.log(`# large file: ${large.path} (${largeMib} MiB, sha256 ${large.sha256.slice(0, 16)}…) made in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
const bodies = makeBodies(smallCount, SMALL);
const warmCount = Math.min(200, Math.max(16, Math.floor(smallCount / 10)));
const warmBodies = makeBodies(warmCount, SMALL);

function rssOf(phases) {
  const list = phases.filter(Boolean);
  if (!list.length) return null;
  return {
    sum: Math.max(...list.map((p) => p.sumOfPeaksMiB)),
    max: Math.max(...list.map((p) => p.maxMiB)),
    count: Math.max(...list.map((p) => Object.keys(p.perPidMiB).length)),
  };
}

async function measured(target, fn) {
  const sampler = new RssSampler(target.pids, 100);
  sampler.start();
  try {
    const result = await fn();
    return [result, sampler.stop()];
  } catch (err) {
    sampler.stop();
    throw err;
  }
}

function syncDisk() {
  try {
    execFileSync('sync', { timeout: 120000 });
  } catch {
    /* best effort */
  }
}

function diedNote(target) {
  const dead = (target.services ?? []).filter((s) => s.exitInfo);
  return dead.map((s) => `${s.name} exited ${JSON.stringify(s.exitInfo)} (log ${s.logFile})`).join('; ');
}

async function runScenario(name) {
  const sc = SCENARIOS[name];
  console.log(`\n## ${name}: ${sc.desc}`);
  let target;
  try {
    target = await sc.start(ctx);
  } catch (err) {
    if (err instanceof SkipError) {
      console.log(`SKIP ${name}: ${err.message}`);
      return { name, status: 'skipped', reason: err.message };
    }
    console.log(`FAIL ${name} at start-up: ${err.message}`);
    keepLogs = true;
    return { name, status: 'failed', reason: `start-up: ${err.message}` };
  }
  if (target.info.nodeInfo) console.log(`node 1 (GET /v1/node): ${JSON.stringify(target.info.nodeInfo)}`);
  const res = { name, status: 'ok', rssLabel: target.rssLabel, info: target.info, notes: [...(target.info.notes ?? [])], rss: {} };
  try {
    // startup peak, without resetting the high-water mark
    res.rss.startup = (() => {
      const s = new RssSampler(target.pids, 100);
      return s.stop();
    })();
    const base = target.baseUrl;
    const largeKey = `bench-large-${largeMib}`;
    let r;
    [r, res.rss.largePut] = await measured(target, () => curlPut(large, base + largeKey, runDir));
    res.largePut = r;
    const replicas = r.response?.replicas !== undefined ? ` replicas=${r.response.replicas}${r.response.nodes ? ` nodes=${JSON.stringify(r.response.nodes)}` : ''}` : '';
    console.log(`large PUT ${largeMib} MiB: ${r.mibPerSec} MiB/s in ${r.seconds} s (HTTP ${r.httpCode})${replicas} RSS ${res.rss.largePut.sumOfPeaksMiB} MiB${r.ok ? '' : ` — PROBLEM: ${r.note}`}`);
    if (r.ok && !r.got100Continue && large.size > MiB) res.notes.push('large PUT: no "100 Continue" answer to curl\'s Expect: 100-continue, so curl may have waited up to 1 s before sending the body');
    if (name === 'n3' && r.response && typeof r.response.replicas === 'number' && r.response.replicas < 2) res.notes.push(`large PUT reported replicas=${r.response.replicas}, below W=2`);

    [r, res.rss.largeGet] = await measured(target, () => curlGet(large, base + largeKey, runDir));
    res.largeGet = r;
    console.log(`large GET ${largeMib} MiB: ${r.mibPerSec} MiB/s in ${r.seconds} s (HTTP ${r.httpCode}) RSS ${res.rss.largeGet.sumOfPeaksMiB} MiB${r.ok ? '' : ` — PROBLEM: ${r.note}`}`);

    syncDisk(); // the small-file phases start with no dirty pages left from the large ones

    // untimed warm-up on other keys
    const warmUrl = (i) => `${base}bench-warm-${i}`;
    await runLoad({ method: 'PUT', count: warmCount, concurrency, urlFor: warmUrl, bodyFor: (i) => warmBodies[i], ok: (x) => x.status >= 200 && x.status < 300, deadlineMs: 60000 });
    await runLoad({ method: 'GET', count: warmCount, concurrency, urlFor: warmUrl, ok: (x) => x.status === 200, deadlineMs: 60000 });

    const smallUrl = (i) => `${base}bench-small-${i}`;
    [r, res.rss.smallPut] = await measured(target, () =>
      runLoad({ method: 'PUT', count: smallCount, concurrency, urlFor: smallUrl, bodyFor: (i) => bodies[i], ok: (x) => x.status >= 200 && x.status < 300 }),
    );
    res.smallPut = r;
    console.log(`4 KiB PUT ×${smallCount} c=${concurrency}: ${r.reqPerSec} req/s p50 ${r.p50ms} ms p99 ${r.p99ms} ms errors ${r.errors}${r.firstError ? ` (first: ${r.firstError})` : ''}`);
    [r, res.rss.smallGet] = await measured(target, () =>
      runLoad({ method: 'GET', count: smallCount, concurrency, urlFor: smallUrl, ok: (x) => x.status === 200 && x.bytes === SMALL }),
    );
    res.smallGet = r;
    console.log(`4 KiB GET ×${smallCount} c=${concurrency}: ${r.reqPerSec} req/s p50 ${r.p50ms} ms p99 ${r.p99ms} ms errors ${r.errors}${r.firstError ? ` (first: ${r.firstError})` : ''}`);
  } catch (err) {
    res.status = 'failed';
    res.reason = err.message;
    console.log(`FAIL ${name}: ${err.message}`);
  }
  const died = diedNote(target);
  if (died) {
    res.notes.push(died);
    if (res.status === 'ok') res.status = 'failed';
    res.reason ??= died;
  }
  res.rssLarge = rssOf([res.rss.largePut, res.rss.largeGet]);
  res.rssAll = rssOf(Object.values(res.rss));
  console.log(`peak RSS (${target.rssLabel}): ${res.rssLarge?.sum ?? '—'} MiB during large transfers, ${res.rssAll?.sum ?? '—'} MiB over the whole scenario`);
  if (res.status !== 'ok') keepLogs = true;
  await target.stop();
  syncDisk(); // start the next scenario with no dirty pages of this one
  return res;
}

const results = [];
try {
  for (const name of selected) results.push(await runScenario(name));
} finally {
  fs.rmSync(large.path, { force: true });
}

const markdown = renderReport({ results, machine, largeMib, smallCount, concurrency, command, shoalEnvText });
console.log(`\n${markdown}\n`);
console.log(`# total ${((Date.now() - t0) / 1000).toFixed(0)} s`);
if (opts.json) fs.writeFileSync(opts.json, JSON.stringify({ machine, command, largeMib, smallCount, concurrency, results }, null, 2));
if (opts['write-doc']) {
  writeDoc(opts.doc, markdown);
  console.log(`# wrote ${opts.doc}`);
}
const failed = results.some((r) => r.status === 'failed');
if (keepLogs) console.log(`# logs kept in ${logDir}`);
cleanup();
process.exit(failed ? 1 : 0);
