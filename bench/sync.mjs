#!/usr/bin/env node
// Shoal anti-entropy benchmark (DESIGN.md §3), on a 3-node N=3 W=2 R=2 cluster on 127.0.0.1:
//   1. idle round cost at 1k / 10k / 100k files: anti-entropy bytes per round and round duration (should be flat);
//   2. convergence of a node that missed 10 000 writes (SIGSTOP/SIGCONT, and SIGKILL + restart on the same data dir),
//      at the default SYNC_INTERVAL_MS and at 5000 ms, with the part done by sync vs hinted handoff.
//   node bench/sync.mjs [--max-files N] [--only idle,converge] [--write-doc]      (node bench/sync.mjs --help)
// Every loop and wait is bounded; every process started here is stopped here; temp dirs are removed (not with --keep).
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { makeTempDir, removeDir, machineInfo, sleep, percentile, parseCli } from './lib/util.mjs';
import { killAllSync } from './lib/proc.mjs';
import { runLoad } from './lib/loadgen.mjs';
import { startCluster, snapshotApp, nodeInfo, scrape, metricSum, CpuWindow, loadAvg } from './lib/cluster.mjs';
import { writeMarkedSection } from './lib/docsection.mjs';
import { seedStores } from './lib/seed.mjs';

const REPO = path.dirname(path.dirname(new URL(import.meta.url).pathname));
const AE_ROUTES = ['/internal/sync/digests', '/internal/sync/partitions/:partition'];
const DEFAULT_SYNC_INTERVAL_MS = 30000; // DESIGN.md §1

const HELP = `usage: node bench/sync.mjs [options]        (npm run bench:sync -- [options])
  --only LIST            phases: idle,converge (default both)
  --sizes LIST           file counts for the idle-round measurement (default 1000,10000,100000)
  --max-files N          cap every file count at N: idle sizes above N are replaced by N, --missing and
                         --base-files are capped too (quick runs: --max-files 2000)
  --file-bytes N         size of each file (default 1024)
  --seed-above N         idle sizes above N are reached by writing the files beyond N straight into each node's
                         metadata store (nodes stopped, same entries everywhere, then restarted) instead of
                         uploading them: a quick way to 100k files on a slow machine. Default: upload everything.
  --concurrency N        concurrent uploads, keep-alive, spread over the nodes (default 32)
  --idle-interval-ms N   SYNC_INTERVAL_MS for the idle measurement (default 1000)
  --rounds N             rounds measured per node at each size (default 10)
  --settle-rounds N      rounds each node must complete, with nothing differing, before measuring (default 3)
  --missing N            files written while one node is away (default 10000)
  --base-files N         files written before the node goes away (default 1000)
  --intervals LIST       SYNC_INTERVAL_MS settings for convergence; "default" = unset (${DEFAULT_SYNC_INTERVAL_MS})
                         (default: default,5000)
  --variants LIST        stop (SIGSTOP … SIGCONT), kill (SIGKILL … restart on the same data dir) (default both)
  --heartbeat-ms N       HEARTBEAT_INTERVAL_MS of the nodes (default 500)
  --ttl-ms N             NODE_TTL_MS of the registry (default 3000)
  --upload-deadline-s N  stop issuing uploads of one batch after N s (default 900)
  --converge-timeout-s N give up waiting for convergence after N s (default 300)
  --drain-timeout-s N    after convergence, wait at most N s for the hinted-handoff backlog to empty (default 60)
  --env K=V              extra environment for every node (repeatable), e.g. --env SCRUB_BYTES_PER_SEC=0
  --log-level L          LOG_LEVEL of the Shoal processes (default warn)
  --write-doc            create or replace the sync section of docs/benchmarks.md (or --doc PATH)
  --doc PATH             document for --write-doc (default docs/benchmarks.md)
  --json PATH            also write the raw results as JSON
  --keep                 keep temp dirs, data dirs and logs
  --no-snapshot          run dist/main.js in place instead of a private copy of dist/ taken at start
  --repo DIR             Shoal checkout whose dist/main.js is benchmarked (default: this one)
Exit status 1 when a phase failed (a missed target does not fail the run).`;

const opts = parseCli(
  {
    only: { type: 'string', default: 'idle,converge' },
    sizes: { type: 'string', default: '1000,10000,100000' },
    'max-files': { type: 'string' },
    'file-bytes': { type: 'string', default: '1024' },
    'seed-above': { type: 'string' },
    concurrency: { type: 'string', default: '32' },
    'idle-interval-ms': { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '10' },
    'settle-rounds': { type: 'string', default: '3' },
    missing: { type: 'string', default: '10000' },
    'base-files': { type: 'string', default: '1000' },
    intervals: { type: 'string', default: 'default,5000' },
    variants: { type: 'string', default: 'stop,kill' },
    'heartbeat-ms': { type: 'string', default: '500' },
    'ttl-ms': { type: 'string', default: '3000' },
    'upload-deadline-s': { type: 'string', default: '900' },
    'converge-timeout-s': { type: 'string', default: '300' },
    'drain-timeout-s': { type: 'string', default: '60' },
    env: { type: 'string', multiple: true, default: [] },
    'log-level': { type: 'string', default: 'warn' },
    'write-doc': { type: 'boolean', default: false },
    doc: { type: 'string', default: path.join(REPO, 'docs', 'benchmarks.md') },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
    'no-snapshot': { type: 'boolean', default: false },
    repo: { type: 'string', default: REPO },
    help: { type: 'boolean', short: 'h', default: false },
  },
  HELP,
);
const die = (msg) => {
  console.error(msg);
  process.exit(2);
};
const toInt = (name, text, min, max) => {
  const v = Number(text);
  if (!Number.isInteger(v) || v < min || v > max) die(`--${name} must be an integer in [${min}, ${max}], got ${text}`);
  return v;
};
const intOpt = (name, min, max) => toInt(name, opts[name], min, max);
const listOpt = (name) => String(opts[name]).split(',').map((s) => s.trim()).filter(Boolean);

const maxFiles = opts['max-files'] === undefined ? Infinity : intOpt('max-files', 1, 10_000_000);
const cap = (v) => Math.min(v, maxFiles);
const sizes = [...new Set(listOpt('sizes').map((s) => cap(toInt('sizes', s, 1, 10_000_000))))].sort((a, b) => a - b);
const fileBytes = intOpt('file-bytes', 16, 16 * 1024 * 1024);
const concurrency = intOpt('concurrency', 1, 1024);
const seedAbove = opts['seed-above'] === undefined ? Infinity : intOpt('seed-above', 0, 10_000_000);
if (seedAbove !== Infinity && fileBytes > 16384) die('--seed-above needs --file-bytes ≤ 16384 (seeded files are kept inline, as a node keeps small files)');
const idleIntervalMs = intOpt('idle-interval-ms', 10, 600000);
const rounds = intOpt('rounds', 1, 1000);
const settleRounds = intOpt('settle-rounds', 0, 100);
const missing = cap(intOpt('missing', 1, 10_000_000));
const baseFiles = cap(intOpt('base-files', 0, 10_000_000));
const heartbeatMs = intOpt('heartbeat-ms', 10, 3_600_000);
const ttlMs = intOpt('ttl-ms', 10, 86_400_000);
const uploadDeadlineMs = intOpt('upload-deadline-s', 1, 86400) * 1000;
const convergeTimeoutMs = intOpt('converge-timeout-s', 1, 86400) * 1000;
const drainTimeoutMs = intOpt('drain-timeout-s', 0, 86400) * 1000;
const phases = listOpt('only');
for (const p of phases) if (!['idle', 'converge'].includes(p)) die(`unknown phase "${p}"; known: idle, converge`);
const intervals = listOpt('intervals').map((s) => (s === 'default' ? 'default' : toInt('intervals', s, 10, 86_400_000)));
const variants = listOpt('variants');
for (const v of variants) if (!['stop', 'kill'].includes(v)) die(`unknown variant "${v}"; known: stop, kill`);
const extraEnv = {};
for (const kv of opts.env) {
  const i = kv.indexOf('=');
  if (i <= 0) die(`--env wants KEY=VALUE, got ${kv}`);
  extraEnv[kv.slice(0, i)] = kv.slice(i + 1);
}
const command = `node bench/sync.mjs${process.argv.slice(2).length ? ' ' + process.argv.slice(2).join(' ') : ''}`;

// ---------------------------------------------------------------- run directory, clean-up
const runDir = makeTempDir('sync');
const logDir = path.join(runDir, 'logs');
fs.mkdirSync(logDir);
let keepLogs = opts.keep;
const clusters = new Set();
let cleaned = false;
const cleanup = () => {
  if (cleaned) return;
  cleaned = true;
  killAllSync(); // SIGKILL also ends a SIGSTOPped process
  if (opts.keep) return;
  if (!keepLogs) return removeDir(runDir);
  for (const f of fs.readdirSync(runDir)) if (f !== 'logs') removeDir(path.join(runDir, f));
};
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`\n# ${sig}: stopping the servers and cleaning ${runDir}`);
    cleanup();
    process.exit(130);
  });
}
process.on('exit', () => cleanup());

const repoDir = path.resolve(opts.repo);
let mainJs = path.join(repoDir, 'dist', 'main.js');
let appCwd = repoDir;
if (!fs.existsSync(mainJs)) die(`${mainJs} does not exist: run \`npm run build\` first`);
if (!opts['no-snapshot']) {
  appCwd = path.join(runDir, 'app');
  mainJs = snapshotApp(repoDir, appCwd);
}
const ctx = { runDir, logDir, logLevel: opts['log-level'], keep: opts.keep };
const machine = machineInfo(repoDir);
const t0 = Date.now();
const fmtLoad = (l = loadAvg()) => l.map((x) => x.toFixed(2)).join(' ');
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(0)} s`;
const log = (s) => console.log(`[${elapsed().padStart(6)}] ${s}`);

console.log(`# Shoal anti-entropy benchmark — ${machine.date}`);
console.log(`# ${machine.nproc} cores, ${machine.cpuModel}, ${machine.memGiB} GiB, Node ${machine.node}; commit ${machine.commit}${machine.dirty ? '+dirty' : ''}; load average ${fmtLoad()} at start`);
console.log(`# ${command}`);
console.log(`# phases ${phases.join(',')}; idle sizes ${sizes.join(', ')} × ${fileBytes} B at c=${concurrency}; missing ${missing}; HEARTBEAT_INTERVAL_MS=${heartbeatMs} NODE_TTL_MS=${ttlMs}`);
console.log(`# code under test: ${mainJs}${opts['no-snapshot'] ? '' : ' (private copy of dist/)'}; logs in ${logDir}`);

// ---------------------------------------------------------------- helpers
const round1 = (v, d = 1) => (Number.isFinite(v) ? +v.toFixed(d) : null);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? percentile(s, 50) : NaN;
};

/** `count` PUTs of distinct fileBytes bodies, keys prefix-<index>, round-robin over `nodes`, keep-alive. */
async function upload(nodes, prefix, from, count) {
  const urls = nodes.map((n) => `${n.url}/v1/files/`);
  const base = crypto.randomBytes(fileBytes);
  const cpu = new CpuWindow(() => nodes.map((n) => n.svc.pid));
  const r = await runLoad({
    method: 'PUT',
    count,
    concurrency,
    urlFor: (i) => `${urls[i % urls.length]}${prefix}-${String(from + i).padStart(8, '0')}`,
    bodyFor: (i) => {
      const b = Buffer.from(base);
      b.writeUInt32BE(from + i, 0);
      crypto.randomFillSync(b, 4, 12);
      return b;
    },
    ok: (x) => x.status >= 200 && x.status < 300,
    timeoutMs: 30000,
    deadlineMs: uploadDeadlineMs,
  });
  r.cpu = cpu.end();
  return r;
}

function describeUpload(r) {
  return `${r.okCount}/${r.requested} PUT in ${r.seconds} s = ${r.reqPerSec} req/s, p50 ${r.p50ms} ms p99 ${r.p99ms} ms, errors ${r.errors}${r.firstError ? ` (first: ${r.firstError})` : ''}${r.truncated ? ' — STOPPED AT THE DEADLINE' : ''}; CPU: nodes ${round1(r.cpu.nodesCores, 2)} cores, loader ${round1(r.cpu.benchCores, 2)}, others ${round1(r.cpu.othersCores, 2)}; load ${fmtLoad(r.cpu.loadavg)}`;
}

async function infos(nodes) {
  return Promise.all(nodes.map((n) => nodeInfo(n.url).catch((e) => ({ error: e.message }))));
}

async function scrapeAll(nodes) {
  return Promise.all(nodes.map((n) => scrape(n.url)));
}

const roundsOf = (s) => metricSum(s, 'shoal_sync_rounds_total');

/**
 * Waits (bounded) until every node holds the same number of files (≥ minFiles), no hint is pending, and then every
 * node has completed `settle` more rounds, the last of which found nothing different.
 */
async function settle(cluster, { minFiles, settle, timeoutMs }) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const js = await infos(cluster.nodes);
    const files = js.map((j) => j.files);
    const pending = js.map((j) => j.handoffPending);
    if (js.every((j) => !j.error) && files.every((f) => f === files[0]) && files[0] >= minFiles && pending.every((p) => p === 0)) break;
    last = `files ${files.join('/')} (want equal, ≥ ${minFiles}), hints pending ${pending.join('/')}${js.some((j) => j.error) ? `, ${js.map((j) => j.error).filter(Boolean).join('; ')}` : ''}`;
    if (Date.now() > deadline) throw new Error(`uploads did not settle within ${timeoutMs / 1000} s: ${last}`);
    await sleep(500);
  }
  const start = (await scrapeAll(cluster.nodes)).map(roundsOf);
  for (;;) {
    const now = (await scrapeAll(cluster.nodes)).map(roundsOf);
    const js = await infos(cluster.nodes);
    const enough = now.every((r, i) => r - start[i] >= settle);
    if (enough && js.every((j) => j.sync && j.sync.lastRoundDiffering === 0)) return js;
    last = `rounds since ${now.map((r, i) => r - start[i]).join('/')} (want ≥ ${settle}), last round differing ${js.map((j) => j.sync?.lastRoundDiffering).join('/')}`;
    if (Date.now() > deadline) throw new Error(`sync rounds did not settle within ${timeoutMs / 1000} s: ${last}`);
    await sleep(300);
  }
}

// ---------------------------------------------------------------- phase 1: idle round cost
async function measureIdle(cluster) {
  const nodes = cluster.nodes;
  const s0 = await scrapeAll(nodes);
  const cpu = new CpuWindow(() => cluster.pids());
  const r0 = s0.map(roundsOf);
  const roundMs = nodes.map(() => new Map()); // lastRoundAt -> {ms, differing, pulled}
  const deadline = Date.now() + rounds * idleIntervalMs * 1.2 * 3 + 60000;
  let r1 = r0;
  let lastScrape = 0;
  while (Date.now() < deadline) {
    const js = await infos(nodes);
    js.forEach((j, i) => {
      if (j.sync?.lastRoundAt) roundMs[i].set(j.sync.lastRoundAt, { ms: j.sync.lastRoundMs, differing: j.sync.lastRoundDiffering, pulled: j.sync.lastRoundPulled });
    });
    if (Date.now() - lastScrape > 2000) {
      lastScrape = Date.now();
      r1 = (await scrapeAll(nodes)).map(roundsOf);
      if (r1.every((r, i) => r - r0[i] >= rounds)) break;
    }
    await sleep(Math.min(400, idleIntervalMs / 3)); // polling costs the nodes CPU too: not too often
  }
  const s1 = await scrapeAll(nodes);
  const cpuUse = cpu.end();
  const per = nodes.map((n, i) => {
    const d = (name, where) => metricSum(s1[i], name, where) - metricSum(s0[i], name, where);
    const bytes = Object.fromEntries(AE_ROUTES.map((route) => [route, d('shoal_http_bytes_total', { route })]));
    return {
      node: n.name,
      exchanges: d('shoal_http_request_duration_seconds_count', { route: AE_ROUTES[0] }),
      rounds: d('shoal_sync_rounds_total'),
      partial: d('shoal_sync_rounds_total', { result: 'partial' }),
      bytes,
      bytesTotal: Object.values(bytes).reduce((a, b) => a + b, 0),
      durSum: d('shoal_sync_round_duration_seconds_sum'),
      durCount: d('shoal_sync_round_duration_seconds_count'),
      differing: d('shoal_sync_partitions_differing_total'),
      pulled: d('shoal_sync_entries_pulled_total'),
      scrubBytes: d('shoal_scrub_bytes_total'),
      lastRoundMs: [...roundMs[i].values()].map((x) => x.ms),
      cpuCores: cpuUse.perPidCores[n.svc.pid],
    };
  });
  const sum = (f) => per.reduce((a, p) => a + f(p), 0);
  const totalRounds = sum((p) => p.rounds);
  const allLast = per.flatMap((p) => p.lastRoundMs);
  return {
    per,
    windowSeconds: round1(cpuUse.seconds),
    roundsPerNode: per.map((p) => p.rounds),
    complete: per.every((p) => p.rounds >= rounds),
    // what one node's round costs: bytes are counted where they are served (the co-owner answering), so the sum of
    // every node's anti-entropy bytes over the sum of every node's rounds
    bytesPerRound: totalRounds ? sum((p) => p.bytesTotal) / totalRounds : NaN,
    // bytes and exchanges are counted together when a response ends, so this ratio has no window-edge error; an idle
    // round is one exchange per co-owner
    exchanges: sum((p) => p.exchanges),
    exchangesPerRound: totalRounds ? sum((p) => p.exchanges) / totalRounds : NaN,
    bytesPerExchange: sum((p) => p.exchanges) ? sum((p) => p.bytesTotal) / sum((p) => p.exchanges) : NaN,
    digestBytesPerRound: totalRounds ? sum((p) => p.bytes[AE_ROUTES[0]]) / totalRounds : NaN,
    partitionBytesPerRound: totalRounds ? sum((p) => p.bytes[AE_ROUTES[1]]) / totalRounds : NaN,
    aeMeanMs: sum((p) => p.durCount) ? (1000 * sum((p) => p.durSum)) / sum((p) => p.durCount) : NaN,
    // CPU the node processes used in the window (rounds, heartbeats, this script's polling: everything) per round;
    // unlike durations, CPU time does not grow when the machine is busy with other work
    cpuMsPerRound: totalRounds ? (1000 * cpuUse.nodesCores * cpuUse.seconds) / totalRounds : NaN,
    lastRoundMsP50: median(allLast),
    lastRoundMsMax: allLast.length ? Math.max(...allLast) : NaN,
    lastRoundSamples: allLast.length,
    differing: sum((p) => p.differing),
    pulled: sum((p) => p.pulled),
    partial: sum((p) => p.partial),
    scrubMiBps: sum((p) => p.scrubBytes) / cpuUse.seconds / 1024 / 1024,
    cpu: cpuUse,
  };
}

async function idlePhase() {
  log(`## idle round cost: SYNC_INTERVAL_MS=${idleIntervalMs}, ${rounds} rounds per node at each of ${sizes.join(', ')} files`);
  const cluster = await startCluster(ctx, {
    name: 'idle',
    mainJs,
    cwd: appCwd,
    // the scrubber re-reads every file over and over (more files, more of it): off here, so that what is measured is
    // the sync round; --env SCRUB_BYTES_PER_SEC=… turns it back on
    nodeEnv: { HEARTBEAT_INTERVAL_MS: String(heartbeatMs), SYNC_INTERVAL_MS: String(idleIntervalMs), SCRUB_BYTES_PER_SEC: '0', ...extraEnv },
    registryEnv: { NODE_TTL_MS: String(ttlMs) },
  });
  clusters.add(cluster);
  const rows = [];
  try {
    let issued = 0;
    let okTotal = 0;
    for (const size of sizes) {
      const row = { size, upload: null, seeded: 0 };
      rows.push(row);
      const uploadTo = Math.min(size, Math.max(issued, seedAbove));
      if (uploadTo > issued) {
        const add = uploadTo - issued;
        log(`uploading ${add} files (${issued} → ${uploadTo}) through the 3 nodes at c=${concurrency}`);
        const up = await upload(cluster.nodes, 'idle', issued, add);
        log(`  ${describeUpload(up)}`);
        issued = uploadTo;
        okTotal += up.okCount;
        row.upload = up;
      }
      if (size > issued) {
        // Settle what was uploaded first, so the seeded entries land on identical stores.
        if (row.upload) await settle(cluster, { minFiles: okTotal, settle: 0, timeoutMs: 300000 + okTotal * 2 });
        const add = size - issued;
        log(`seeding ${add} files (${issued} → ${size}) straight into the 3 nodes' metadata stores (nodes stopped, then restarted)`);
        const ts = Date.now();
        for (const n of cluster.nodes) await cluster.stopNode(n);
        await seedStores(appCwd, cluster.nodes.map((n) => n.dir), { prefix: 'idle', from: issued, count: add, fileBytes, partitionBits: Number(extraEnv.PARTITION_BITS ?? 10) });
        const seedSecs = (Date.now() - ts) / 1000;
        for (const n of cluster.nodes) cluster.restart(n);
        for (const n of cluster.nodes) await cluster.waitReady(n);
        await cluster.waitAllSeeAllUp(60000);
        log(`  seeded in ${seedSecs.toFixed(1)} s; nodes back after ${((Date.now() - ts) / 1000).toFixed(1)} s`);
        row.seeded = add;
        issued = size;
        okTotal += add;
      }
      const settled = await settle(cluster, { minFiles: okTotal, settle: settleRounds, timeoutMs: 300000 + okTotal * 2 });
      row.files = settled[0].files;
      log(`  settled: ${row.files} files on every node, ${settleRounds} clean rounds each; measuring ${rounds} rounds per node`);
      Object.assign(row, await measureIdle(cluster));
      log(
        `  ${row.files} files: ${round1(row.bytesPerExchange, 1)} B per exchange with a co-owner × ${round1(row.exchangesPerRound, 2)} exchanges/round = ${round1(row.bytesPerRound, 0)} B/round (digests ${round1(row.digestBytesPerRound, 0)}, partitions ${round1(row.partitionBytesPerRound, 0)}); ` +
          `AE round ${round1(row.aeMeanMs, 2)} ms mean (histogram); lastRoundMs p50 ${row.lastRoundMsP50} max ${row.lastRoundMsMax} (${row.lastRoundSamples} seen); ` +
          `node CPU ${round1(row.cpuMsPerRound, 1)} ms per round; rounds ${row.roundsPerNode.join('/')}${row.partial ? ` (${row.partial} partial)` : ''}, differing ${row.differing}, pulled ${row.pulled}; ` +
          `CPU nodes ${round1(row.cpu.nodesCores, 2)} cores [${row.per.map((p) => round1(p.cpuCores, 2)).join('/')}], others ${round1(row.cpu.othersCores, 2)}, scrub ${round1(row.scrubMiBps, 2)} MiB/s; load ${fmtLoad(row.cpu.loadavg)}`,
      );
    }
  } finally {
    await cluster.stop();
    clusters.delete(cluster);
  }
  return rows;
}

// ---------------------------------------------------------------- phase 2: convergence after missed writes
async function convergeOnce(interval, variant) {
  const label = `SYNC_INTERVAL_MS=${interval === 'default' ? `${DEFAULT_SYNC_INTERVAL_MS} (default)` : interval}, ${variant === 'stop' ? 'SIGSTOP/SIGCONT' : 'SIGKILL/restart'}`;
  log(`## convergence: ${label}`);
  const nodeEnv = { HEARTBEAT_INTERVAL_MS: String(heartbeatMs), ...(interval === 'default' ? {} : { SYNC_INTERVAL_MS: String(interval) }), ...extraEnv };
  const name = `conv-${interval}-${variant}`;
  const cluster = await startCluster(ctx, { name, mainJs, cwd: appCwd, nodeEnv, registryEnv: { NODE_TTL_MS: String(ttlMs) } });
  clusters.add(cluster);
  const [n1, n2, victim] = cluster.nodes;
  const res = { interval, variant, label };
  try {
    // Some data before the node goes away; and every node has finished a round (so it has a last full sync and does
    // not restart as `recovering`).
    if (baseFiles > 0) {
      const up = await upload(cluster.nodes, 'base', 0, baseFiles);
      log(`  base: ${describeUpload(up)}`);
    }
    {
      const deadline = Date.now() + 120000 + (interval === 'default' ? DEFAULT_SYNC_INTERVAL_MS : interval) * 1.3;
      for (;;) {
        const js = await infos(cluster.nodes);
        const files = js.map((j) => j.files);
        if (js.every((j) => j.sync?.lastRoundAt && j.handoffPending === 0) && files.every((f) => f === files[0])) {
          res.baseFiles = files[0];
          break;
        }
        if (Date.now() > deadline) throw new Error(`base files did not settle: files ${files.join('/')}, lastRoundAt ${js.map((j) => j.sync?.lastRoundAt ?? '—').join('/')}`);
        await sleep(300);
      }
    }
    const before = await scrapeAll(cluster.nodes);
    const tAway = Date.now();
    if (variant === 'stop') cluster.pause(victim);
    else await cluster.kill(victim);
    await cluster.waitSeen(victim, [n1, n2], { wantUp: false, timeoutMs: ttlMs * 3 + 30000 });
    res.downSeenMs = Date.now() - tAway;
    log(`  ${victim.name} ${variant === 'stop' ? 'SIGSTOPped' : 'SIGKILLed'}; seen down by node1 and node2 after ${(res.downSeenMs / 1000).toFixed(1)} s; writing ${missing} files through node1 and node2`);
    const up = await upload([n1, n2], 'missed', 0, missing);
    res.upload = up;
    log(`  ${describeUpload(up)}`);
    const ref = await infos([n1, n2]);
    if (ref.some((j) => j.error)) throw new Error(`node1/node2 unreadable: ${ref.map((j) => j.error).join('; ')}`);
    res.target = Math.max(...ref.map((j) => j.files));
    res.referenceFiles = ref.map((j) => j.files);
    res.hintsAtReturn = ref.map((j) => j.handoffPending);
    res.awaySeconds = round1((Date.now() - tAway) / 1000);

    // back
    const tBack = Date.now();
    if (variant === 'stop') cluster.resume(victim);
    else cluster.restart(victim);
    const cpuBack = new CpuWindow(() => cluster.pids());
    const ev = { firstAnswerMs: null, readyMs: null, seenUpMs: null, firstRoundEndMs: null, convergedMs: null, drainedMs: null };
    const states = new Set();
    const roundsAfter = new Map(); // lastRoundAt -> {ms, pulled, differing}
    let last = null;
    let lastPeers = 0;
    let peerInfo = ref;
    const deadline = tBack + convergeTimeoutMs;
    while (Date.now() < deadline) {
      if (victim.svc.exitInfo) throw new Error(`${victim.name} exited ${JSON.stringify(victim.svc.exitInfo)} (log ${victim.svc.logFile})`);
      const now = () => Date.now() - tBack;
      try {
        last = await nodeInfo(victim.url, 2000);
        ev.firstAnswerMs ??= now();
        states.add(last.state);
        if (last.state === 'ready') ev.readyMs ??= now();
        const at = last.sync?.lastRoundAt;
        if (at && Date.parse(at) >= tBack) {
          ev.firstRoundEndMs ??= Date.parse(at) - tBack;
          roundsAfter.set(at, { ms: last.sync.lastRoundMs, pulled: last.sync.lastRoundPulled, differing: last.sync.lastRoundDiffering });
        }
        if (last.files >= res.target && ev.convergedMs === null) ev.convergedMs = now();
      } catch {
        /* restarting, or still catching up on its event loop */
      }
      if (Date.now() - lastPeers > 500) {
        lastPeers = Date.now();
        peerInfo = await infos([n1, n2]);
        if (ev.seenUpMs === null && peerInfo.every((j) => j.members?.find((m) => m.id === victim.id)?.status === 'up')) ev.seenUpMs = now();
        if (ev.convergedMs !== null && peerInfo.every((j) => j.handoffPending === 0)) {
          ev.drainedMs = now();
          break;
        }
      }
      if (ev.convergedMs !== null && now() > ev.convergedMs + drainTimeoutMs) break;
      await sleep(200);
    }
    res.events = ev;
    res.cpu = cpuBack.end();
    res.victimCores = res.cpu.perPidCores[victim.svc.pid];
    res.victimFiles = last?.files ?? null;
    res.states = [...states];
    res.hintsLeft = peerInfo.map((j) => j.handoffPending);
    res.roundsAfter = [...roundsAfter.values()];
    const after = await scrapeAll(cluster.nodes);
    const restarted = variant === 'kill';
    const dv = (name, where) => metricSum(after[2], name, where) - (restarted ? 0 : metricSum(before[2], name, where));
    res.pulled = {
      file: dv('shoal_sync_entries_pulled_total', { kind: 'file' }),
      metadata: dv('shoal_sync_entries_pulled_total', { kind: 'metadata' }),
      tombstone: dv('shoal_sync_entries_pulled_total', { kind: 'tombstone' }),
    };
    res.pulledTotal = res.pulled.file + res.pulled.metadata + res.pulled.tombstone;
    res.victimRounds = dv('shoal_sync_rounds_total');
    res.victimPartialRounds = dv('shoal_sync_rounds_total', { result: 'partial' });
    res.handoffDelivered = [0, 1].map((i) => metricSum(after[i], 'shoal_handoff_delivered_total') - metricSum(before[i], 'shoal_handoff_delivered_total'));
    res.handoffDeliveredTotal = res.handoffDelivered[0] + res.handoffDelivered[1];
    const s = (ms) => (ms === null ? '—' : `${(ms / 1000).toFixed(1)} s`);
    if (ev.convergedMs === null) {
      log(`  NOT CONVERGED after ${convergeTimeoutMs / 1000} s: ${victim.name} holds ${res.victimFiles} files, the others ${res.referenceFiles.join('/')}`);
      keepLogs = true;
    }
    log(
      `  back: answers after ${s(ev.firstAnswerMs)}, ready ${s(ev.readyMs)}, seen up by peers ${s(ev.seenUpMs)}, first own sync round ended ${s(ev.firstRoundEndMs)}, ` +
        `CONVERGED after ${s(ev.convergedMs)} (${res.victimFiles}/${res.target} files); hints drained ${s(ev.drainedMs)} (left ${res.hintsLeft.join('/')}); states ${res.states.join(',')}`,
    );
    log(
      `  who delivered: sync pulled ${res.pulledTotal} (file ${res.pulled.file}, metadata ${res.pulled.metadata}, tombstone ${res.pulled.tombstone}) in ${res.victimRounds} rounds${res.victimPartialRounds ? ` (${res.victimPartialRounds} partial: a co-owner failed)` : ''} ` +
        `[${res.roundsAfter.map((r) => `${r.pulled} in ${r.ms} ms`).join(', ')}]; hinted handoff delivered ${res.handoffDeliveredTotal} (node1 ${res.handoffDelivered[0]}, node2 ${res.handoffDelivered[1]}) of ${res.hintsAtReturn.reduce((a, b) => a + b, 0)} hints; CPU until then: node3 ${round1(res.victimCores, 2)} cores, node1+node2 ${round1(res.cpu.nodesCores - (res.victimCores ?? 0), 2)}, others ${round1(res.cpu.othersCores, 2)}; load ${fmtLoad(res.cpu.loadavg)}`,
    );
  } finally {
    await cluster.stop();
    clusters.delete(cluster);
  }
  return res;
}

// ---------------------------------------------------------------- report
function pctDiff(v, base) {
  return Number.isFinite(v) && Number.isFinite(base) && base > 0 ? (100 * (v - base)) / base : NaN;
}
const fmtPct = (p) => (Number.isFinite(p) ? `${p >= 0 ? '+' : ''}${p.toFixed(0)} %` : '—');
const fmtS = (ms) => (ms === null || ms === undefined ? '—' : (ms / 1000).toFixed(1));

function render({ idle, converge, failures }) {
  const L = [];
  L.push('## Anti-entropy (`npm run bench:sync`)');
  L.push('');
  L.push(`- Machine: ${machine.nproc} cores (${machine.cpuModel}), ${machine.memGiB} GiB RAM, ${machine.kernel}; Node ${machine.node}`);
  L.push(`- Date: ${machine.date}; commit ${machine.commit ?? '(none)'}${machine.dirty ? ' + uncommitted changes' : ''}; total ${elapsed()}`);
  L.push(`- Command: \`${command}\``);
  L.push(
    `- Cluster: 1 registry + 3 nodes on 127.0.0.1, N=3 W=2 R=2 (every node owns every partition), HEARTBEAT_INTERVAL_MS=${heartbeatMs}, NODE_TTL_MS=${ttlMs}` +
      `${Object.keys(extraEnv).length ? `, ${Object.entries(extraEnv).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''}, everything else at its default; files of ${fileBytes} B uploaded at concurrency ${concurrency} over keep-alive connections, round-robin over the nodes.`,
  );
  if (idle && idle.some((r) => r.seeded)) {
    L.push(`- Files beyond ${seedAbove} (idle measurement only) were not uploaded but written straight into each stopped node's metadata store with the code under test's own MetaStore (same entries and versions on every node, inline 1 KiB blobs, real SHA-256), then the nodes were restarted: \`--seed-above ${seedAbove}\`.`);
  }
  L.push(`- Load: client, servers and whatever else runs on this machine share ${machine.nproc} cores; "others" = machine CPU not used by the 3 nodes or the load generator (includes the registry). Numbers swing between runs.`);
  if (idle) {
    L.push('');
    L.push(`### Idle round cost (SYNC_INTERVAL_MS=${idleIntervalMs}, SCRUB_BYTES_PER_SEC=${extraEnv.SCRUB_BYTES_PER_SEC ?? '0'}, ≥ ${rounds} rounds per node after ${settleRounds} clean ones)`);
    L.push('');
    L.push('Bytes = request + response bodies on `/internal/sync/digests` and `/internal/sync/partitions/:partition` (`shoal_http_bytes_total`, counted on the answering node), summed over the 3 nodes, divided by the digest exchanges (\`shoal_http_request_duration_seconds_count\` of the digests route; exact, as bytes and count are recorded together) = "B per exchange"; an idle round is one exchange per co-owner (2 here), and "AE bytes/round" = all those bytes over all rounds run in the window (±1 round of window-edge error per node). "AE ms" = mean of `shoal_sync_round_duration_seconds` (the comparison only); "lastRoundMs" = `GET /v1/node` `sync.lastRoundMs` (the whole round: comparison, handover, tombstone GC). Durations include waiting for a CPU on a busy machine; "node CPU ms per round" (utime+stime of the 3 node processes over the window, from /proc, divided by their rounds; includes heartbeats and this script\'s polling) does not.');
    L.push('');
    L.push('| files per node | upload req/s | rounds (n1/n2/n3) | B per exchange | vs first | exchanges/round | AE bytes/round | AE ms (mean) | vs first | lastRoundMs p50 / max | vs first (p50) | node CPU ms per round | vs first | differing / pulled | nodes CPU (cores) | others CPU (cores) | load avg |');
    L.push('|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
    const b = idle[0];
    for (const r of idle) {
      const up =
        (r.upload ? `${r.upload.reqPerSec}${r.upload.errors ? ` (${r.upload.errors} err)` : ''}${r.upload.truncated ? ' ⚠ deadline' : ''}` : '—') +
        (r.seeded ? ` (+${r.seeded} seeded)` : '');
      L.push(
        `| ${r.files} | ${up} | ${r.roundsPerNode.join('/')}${r.complete ? '' : ' ⚠'} | ${round1(r.bytesPerExchange, 1)} | ${fmtPct(pctDiff(r.bytesPerExchange, b.bytesPerExchange))} | ${round1(r.exchangesPerRound, 2)} | ${round1(r.bytesPerRound, 0)} | ${round1(r.aeMeanMs, 2)} | ${fmtPct(pctDiff(r.aeMeanMs, b.aeMeanMs))} | ${r.lastRoundMsP50} / ${r.lastRoundMsMax} | ${fmtPct(pctDiff(r.lastRoundMsP50, b.lastRoundMsP50))} | ${round1(r.cpuMsPerRound, 1)} | ${fmtPct(pctDiff(r.cpuMsPerRound, b.cpuMsPerRound))} | ${r.differing} / ${r.pulled} | ${round1(r.cpu.nodesCores, 2)} | ${round1(r.cpu.othersCores, 2)} | ${fmtLoad(r.cpu.loadavg)} |`,
      );
    }
  }
  if (converge) {
    L.push('');
    L.push(`### Convergence after ${missing} missed writes`);
    L.push('');
    L.push(
      `node3 stops (SIGSTOP, or SIGKILL), node1 and node2 see it down, ${missing} files are written through node1 and node2 (on top of ${baseFiles} written before), then node3 continues (SIGCONT, or restarts on the same data dir). "Converged" = node3's \`GET /v1/node\` \`files\` equals node1's, timed from SIGCONT / the restart. Both mechanisms deliver missed writes: node1 and node2 keep a hint per write and push it once they see node3 up (hinted handoff, \`shoal_handoff_delivered_total\`); node3 pulls what differs in its own sync round (\`shoal_sync_entries_pulled_total\`). An entry may be counted by both.`,
    );
    L.push('');
    L.push('| SYNC_INTERVAL_MS | node3 | writes (req/s) | seen down after s | node3 ready s | seen up s | first node3 round ended s | converged s | < 60 s | pulled by sync | delivered by handoff | hints drained s | CPU node3 / node1+2 / others (cores) |');
    L.push('|---|---|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|');
    for (const c of converge) {
      if (c.error) {
        L.push(`| ${c.interval} | ${c.variant} | failed: ${String(c.error).split('\n')[0].replace(/\|/g, '\\|').slice(0, 160)} |||||||||||`);
        continue;
      }
      const e = c.events;
      const verdict = e.convergedMs === null ? 'MISS (not converged)' : e.convergedMs < 60000 ? 'PASS' : 'MISS';
      L.push(
        `| ${c.interval === 'default' ? `${DEFAULT_SYNC_INTERVAL_MS} (default)` : c.interval} | ${c.variant === 'stop' ? 'SIGSTOP → SIGCONT' : 'SIGKILL → restart'} | ${c.upload.okCount} (${c.upload.reqPerSec}${c.upload.errors ? `, ${c.upload.errors} err` : ''}) | ${fmtS(c.downSeenMs)} | ${fmtS(e.readyMs)} | ${fmtS(e.seenUpMs)} | ${fmtS(e.firstRoundEndMs)} | ${fmtS(e.convergedMs)} | ${verdict} | ${c.pulledTotal} | ${c.handoffDeliveredTotal} | ${e.drainedMs === null ? `— (${c.hintsLeft.join('+')} left)` : fmtS(e.drainedMs)} | ${round1(c.victimCores, 2)} / ${round1(c.cpu.nodesCores - (c.victimCores ?? 0), 2)} / ${round1(c.cpu.othersCores, 2)} |`,
      );
    }
  }
  L.push('');
  L.push('Targets:');
  L.push('');
  L.push('| target | measured | verdict |');
  L.push('|---|---|---|');
  if (idle && idle.length > 1) {
    const flat = (label, f) => {
      const vals = idle.map(f);
      const dev = Math.max(...vals.map((v) => Math.abs(pctDiff(v, vals[0]))));
      L.push(`| idle ${label} flat within ±10 % from ${idle[0].files} to ${idle[idle.length - 1].files} files | ${vals.map((v) => round1(v, 2)).join(' → ')} (max ${fmtPct(dev)}) | ${Number.isFinite(dev) ? (dev <= 10 ? 'PASS' : 'MISS') : 'n/a'} |`);
    };
    flat('bytes per exchange with a co-owner (a round = one exchange per co-owner)', (r) => r.bytesPerExchange);
    flat('AE round ms (histogram mean)', (r) => r.aeMeanMs);
    flat('lastRoundMs p50 (whole round)', (r) => r.lastRoundMsP50);
    flat('node CPU ms per round (whole process, load-independent)', (r) => r.cpuMsPerRound);
  }
  for (const c of converge ?? []) {
    if (c.error || c.interval !== 'default') continue;
    const ms = c.events.convergedMs;
    L.push(`| convergence at default settings (${c.variant === 'stop' ? 'SIGSTOP/SIGCONT' : 'SIGKILL/restart'}) < 60 s | ${ms === null ? 'not converged' : `${fmtS(ms)} s`} | ${ms !== null && ms < 60000 ? 'PASS' : 'MISS'} |`);
  }
  if (failures.length) {
    L.push('');
    L.push('Failures:');
    L.push('');
    for (const f of failures) L.push(`- ${f.split('\n')[0]}`);
  }
  return L.join('\n');
}

// ---------------------------------------------------------------- main
const results = { machine, command, idle: null, converge: null, failures: [] };
if (phases.includes('idle')) {
  try {
    results.idle = await idlePhase();
  } catch (err) {
    results.failures.push(`idle: ${err.message}`);
    log(`FAIL idle: ${err.message}`);
    keepLogs = true;
  }
}
if (phases.includes('converge')) {
  results.converge = [];
  for (const interval of intervals) {
    for (const variant of variants) {
      try {
        results.converge.push(await convergeOnce(interval, variant));
      } catch (err) {
        results.converge.push({ interval, variant, error: err.message });
        results.failures.push(`converge ${interval} ${variant}: ${err.message}`);
        log(`FAIL converge ${interval} ${variant}: ${err.message}`);
        keepLogs = true;
      }
    }
  }
}
if (results.idle && results.idle.length === 0) results.idle = null;
const markdown = render(results);
console.log(`\n${markdown}\n`);
console.log(`# total ${elapsed()}; load average ${fmtLoad()} at the end`);
if (opts.json) fs.writeFileSync(opts.json, JSON.stringify(results, null, 2));
if (opts['write-doc']) {
  writeMarkedSection(opts.doc, { id: 'sync', writer: 'node bench/sync.mjs --write-doc', markdown });
  console.log(`# wrote ${opts.doc}`);
}
if (keepLogs) console.log(`# logs kept in ${logDir}`);
for (const c of clusters) await c.stop();
cleanup();
process.exit(results.failures.length ? 1 : 0);
