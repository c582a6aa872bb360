#!/usr/bin/env node
// `node scripts/chaos.mjs --duration 10m --seed 7`: a long run of the chaos suite (test/chaos/chaos-runner.ts) — a
// 4-node N=3 W=2 R=2 cluster with 2 registries under seeded load and faults, then the consistency checks. Prints the
// summary, writes report.json, history.jsonl and every process's log to the run directory, and exits 1 on any
// violation. See docs/reliability.md.
//
// The built app (dist/), the test support and the runner are first copied to the run directory, so that a rebuild of
// this checkout during a long run (`npm test` builds) cannot change the code under test half-way.
import { cpSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { register } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const USAGE = `usage: node scripts/chaos.mjs [--duration 10m] [--seed N] [--clients 4] [--keys 16] [--out DIR] [--no-faults]
  --duration D     load and faults for D: 90s, 10m, 1h or milliseconds (default 10m)
  --seed N         seed of the load and of the fault schedule (default: from the clock; printed)
  --clients N      concurrent clients (default 4)
  --keys N         size of the key space (default 16)
  --big P          share of PUTs of ~2 MiB (default 0.02)
  --out DIR        run directory: logs, history.jsonl, report.json (default: a new shoal-chaos-* temp dir)
  --keep           keep the run directory even when there is no violation
  --keep-data      keep the nodes' and registries' data dirs too (KEEP_TEST_DATA=1); their paths are in report.json
  --log-level L    LOG_LEVEL of every process (default warn)
  --graceful       also restart nodes gracefully (SIGTERM: the node stops, keeping its place, then comes back)
  --nemeses LIST   extra nemeses, comma-separated: partition (real network partitions, see --net), clock
                   (nodes restarted under libfaketime, minutes to hours off)
  --skew-bound MS  MAX_CLOCK_SKEW_MS of the registries (default 500: skewed nodes refuse writes; raise it to
                   let them coordinate and test owner fencing)
  --net M          how partitions cut the network: netns (network namespaces + iptables, needs root), proxy
                   (a fault-injecting TCP proxy on 127.0.0.1 in front of every node and registry; also models
                   delay and loss) or auto: netns where it works, else proxy (default: $CHAOS_NET, else auto)
  --no-process-faults  only the nemeses: no node kills, pauses or registry restarts
  --no-faults      the same load without faults (a baseline)
Build first (npm run build): the run uses dist/ as it is.`;

function parseDuration(text) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(String(text).trim());
  if (!m) throw new Error(`--duration: cannot read "${text}"`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 'ms'];
  return Math.round(Number(m[1]) * unit);
}

function fail(message) {
  console.error(`${message}\n\n${USAGE}`);
  process.exit(2);
}

let opts;
try {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10m' },
      seed: { type: 'string' },
      clients: { type: 'string', default: '4' },
      keys: { type: 'string', default: '16' },
      big: { type: 'string', default: '0.02' },
      out: { type: 'string' },
      keep: { type: 'boolean', default: false },
      'keep-data': { type: 'boolean', default: false },
      'log-level': { type: 'string', default: 'warn' },
      'no-faults': { type: 'boolean', default: false },
      graceful: { type: 'boolean', default: false },
      nemeses: { type: 'string', default: '' },
      'no-process-faults': { type: 'boolean', default: false },
      'skew-bound': { type: 'string', default: '500' },
      net: { type: 'string', default: process.env.CHAOS_NET || 'auto' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  opts = {
    durationMs: parseDuration(values.duration),
    seed: values.seed === undefined ? Date.now() % 1_000_000 : Number(values.seed),
    clients: Number(values.clients),
    keys: Number(values.keys),
    bigWriteChance: Number(values.big),
    out: values.out,
    keep: values.keep,
    keepData: values['keep-data'],
    logLevel: values['log-level'],
    faults: !values['no-faults'],
    gracefulRestarts: values.graceful,
    nemeses: values.nemeses.split(',').map((n) => n.trim()).filter(Boolean),
    skewBound: Number(values['skew-bound']),
    processFaults: !values['no-process-faults'],
    net: values.net,
  };
  if (!['auto', 'netns', 'proxy'].includes(opts.net)) throw new Error(`--net: netns, proxy or auto, not ${opts.net}`);
  for (const n of opts.nemeses) if (!['partition', 'clock'].includes(n)) throw new Error(`--nemeses: unknown nemesis ${n}`);
  for (const [name, v] of Object.entries({ seed: opts.seed, clients: opts.clients, keys: opts.keys, big: opts.bigWriteChance })) {
    if (!Number.isFinite(v) || v < 0) throw new Error(`--${name}: not a number: ${v}`);
  }
  if (opts.durationMs < 1000) throw new Error('--duration: at least 1s');
} catch (err) {
  fail(err.message);
}

if (opts.keepData) process.env.KEEP_TEST_DATA = '1';
if (!existsSync(path.join(ROOT, 'dist', 'main.js'))) fail('dist/main.js is missing: run `npm run build` first.');

const runDir = opts.out ? path.resolve(opts.out) : mkdtempSync(path.join(os.tmpdir(), 'shoal-chaos-'));
mkdirSync(runDir, { recursive: true });
const app = path.join(runDir, 'app');
if (existsSync(app)) fail(`${app} exists already: pick another --out`);
// dist/ (what the processes run), package.json (the app reads its version), src/ (the runner imports the pure
// placement functions), test/support and test/chaos (the runner itself); node_modules is shared.
mkdirSync(path.join(app, 'test'), { recursive: true });
cpSync(path.join(ROOT, 'dist'), path.join(app, 'dist'), { recursive: true });
cpSync(path.join(ROOT, 'src'), path.join(app, 'src'), { recursive: true });
cpSync(path.join(ROOT, 'test', 'support'), path.join(app, 'test', 'support'), { recursive: true });
cpSync(path.join(ROOT, 'test', 'chaos'), path.join(app, 'test', 'chaos'), { recursive: true });
copyFileSync(path.join(ROOT, 'package.json'), path.join(app, 'package.json'));
symlinkSync(path.join(ROOT, 'node_modules'), path.join(app, 'node_modules'), 'dir');

const typescriptUrl = pathToFileURL(path.join(ROOT, 'node_modules', 'typescript', 'lib', 'typescript.js')).href;
register(pathToFileURL(path.join(app, 'test', 'chaos', 'ts-hooks.mjs')).href, { data: { typescriptUrl } });
const { runChaos, formatSummary } = await import(pathToFileURL(path.join(app, 'test', 'chaos', 'chaos-runner.ts')).href);

// Ctrl-C: the runner's processes are children of this one; the test support SIGKILLs them when it exits.
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(130));

console.log(`chaos: seed ${opts.seed}, ${opts.durationMs / 1000} s, ${opts.clients} clients, ${opts.keys} keys${opts.faults ? '' : ', no faults'}${opts.gracefulRestarts ? ', graceful restarts' : ''}${opts.nemeses.length ? `, nemeses ${opts.nemeses.join('+')}` : ''}${opts.nemeses.includes('partition') ? ` (net ${opts.net})` : ''}; run directory ${runDir}`);
const report = await runChaos({
  durationMs: opts.durationMs,
  seed: opts.seed,
  clients: opts.clients,
  keys: opts.keys,
  bigWriteChance: opts.bigWriteChance,
  faults: opts.faults,
  gracefulRestarts: opts.gracefulRestarts,
  nemeses: opts.nemeses,
  processFaults: opts.processFaults,
  registryMaxClockSkewMs: opts.skewBound,
  net: opts.net,
  logLevel: opts.logLevel,
  workDir: path.join(runDir, 'run'),
  keepWorkDir: 'always',
  progress: (line) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`),
});
console.log(`\n${formatSummary(report)}`);
const failed = report.violations.length > 0;
rmSync(app, { recursive: true, force: true }); // the snapshot of the code; the logs and the report stay
if (!failed && !opts.keep && !opts.out) {
  rmSync(runDir, { recursive: true, force: true });
  console.log('no violation: run directory removed (use --keep or --out to keep it)');
} else {
  console.log(`run directory: ${runDir} (report.json, history.jsonl, logs/)`);
}
process.exit(failed ? 1 : 0);
