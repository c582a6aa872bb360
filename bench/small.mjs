#!/usr/bin/env node
// Small files with wrk (Debian package): 4 KiB PUTs on unique keys with distinct bodies, then GETs cycling over the
// keys written, at c=16 on keep-alive connections; req/s, p50/p99 and the servers' CPU µs per request from
// /proc/PID/stat, side by side with the bare-Nest floor and the node:http ceiling measured in the same run.
//   node bench/small.mjs [--only floor,ceiling,single,n3] [--seconds 8] [--connections 16] [--rounds 1] [--before DIR] [--write-doc]
// Everything runs on 127.0.0.1; every phase is bounded by wrk's -d; every process started here is stopped here.
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { parseArgs } from 'node:util';
import { freePort, LOOPBACK, machineInfo, makeTempDir, removeDir } from './lib/util.mjs';
import { killAllSync, startProcess, stopProcess, waitFor } from './lib/proc.mjs';
import { mappedFileMiB, RssSampler } from './lib/rss.mjs';
import { CpuWindow } from './lib/cluster.mjs';
import { SkipError, startCeiling, startShoal } from './lib/targets.mjs';
import { writeMarkedSection } from './lib/docsection.mjs';

const REPO = path.dirname(path.dirname(new URL(import.meta.url).pathname));
const SIZE = 4096;
const GET_KEYS = 4000;

const HELP = `usage: node bench/small.mjs [options]
  --only LIST        scenarios, comma-separated, from: floor,ceiling,single,n3 (default: all); with --before, also
                     single-before and n3-before (the same from another checkout)
  --seconds N        length of each wrk phase (default 8)
  --connections N    concurrent connections (default 16)
  --rounds N         measure every scenario N times, taking turns (floor, ceiling, single, n3, floor, …); the table
                     gives each figure's median over the rounds (peak RSS: the highest), the ratios are of medians
  --before DIR       a Shoal checkout (built) to measure in the same run, e.g. the main branch before a change
  --write-doc        replace the small-file section of docs/benchmarks.md
  --keep             keep temp dirs and logs`;

const opts = parseArgs({
  options: {
    only: { type: 'string' },
    seconds: { type: 'string', default: '8' },
    connections: { type: 'string', default: '16' },
    before: { type: 'string' },
    rounds: { type: 'string', default: '1' },
    'write-doc': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
}).values;
if (opts.help) {
  console.log(HELP);
  process.exit(0);
}
const seconds = Math.min(120, Math.max(1, Number(opts.seconds) || 8));
const connections = Math.min(256, Math.max(1, Number(opts.connections) || 16));
const rounds = Math.min(9, Math.max(1, Number(opts.rounds) || 1));

const SCENARIOS = {
  floor: { desc: 'bare NestJS 12, one controller, in-memory (bench/floor-nest.mjs)', start: startFloor },
  ceiling: { desc: 'bare node:http, sha256 + fsync + rename per file (bench/ceiling-server.mjs)', start: (ctx) => startCeiling(ctx) },
  single: { desc: 'Shoal, 1 node, N=1 W=1 R=1', start: (ctx) => startShoal(ctx, { name: 'single', nodes: 1, n: 1, w: 1, r: 1 }) },
  n3: { desc: 'Shoal, 3 nodes, N=3 W=2 R=2, all traffic through node 1', start: (ctx) => startShoal(ctx, { name: 'n3', nodes: 3, n: 3, w: 2, r: 2 }) },
};
if (opts.before) {
  const before = path.resolve(opts.before);
  SCENARIOS['single-before'] = { desc: `as single, from ${before}`, start: (ctx) => startShoal({ ...ctx, repoDir: before }, { name: 'single-before', nodes: 1, n: 1, w: 1, r: 1 }) };
  SCENARIOS['n3-before'] = { desc: `as n3, from ${before}`, start: (ctx) => startShoal({ ...ctx, repoDir: before }, { name: 'n3-before', nodes: 3, n: 3, w: 2, r: 2 }) };
}
const only = opts.only ? opts.only.split(',').map((s) => s.trim()) : Object.keys(SCENARIOS);
for (const o of only) if (!SCENARIOS[o]) throw new Error(`unknown scenario ${o}`);

async function startFloor(ctx) {
  const port = await freePort();
  const svc = startProcess('floor', process.execPath, [path.join(REPO, 'bench', 'floor-nest.mjs'), '--port', String(port), '--host', LOOPBACK], { cwd: REPO, logFile: path.join(ctx.logDir, 'floor.log') });
  const base = `http://${LOOPBACK}:${port}`;
  await waitFor(`${base}/health/ready`, { timeoutMs: 20000, watch: [svc] });
  return { name: 'floor', baseUrl: `${base}/v1/files/`, pids: () => (svc.exitInfo ? [] : [svc.pid]), stop: () => stopProcess(svc) };
}

/** wrk scripts: PUT writes keys PREFIX1..PREFIXn with distinct bodies; GET cycles over the first `keys` of them. */
function luaScripts(dir, filesPath, prefix) {
  const put = path.join(dir, `${prefix}-put.lua`);
  const get = path.join(dir, `${prefix}-get.lua`);
  fs.writeFileSync(put, `local n = 0
local pad = string.rep("x", ${SIZE})
request = function()
  n = n + 1
  local body = string.sub(n .. "-${prefix}-" .. pad, 1, ${SIZE})
  return wrk.format("PUT", "${filesPath}${prefix}" .. n, { ["Content-Type"] = "application/octet-stream" }, body)
end
`);
  return { put, get, writeGet: (keys) => fs.writeFileSync(get, `local n = 0
request = function()
  n = n % ${keys} + 1
  return wrk.format("GET", "${filesPath}${prefix}" .. n)
end
`) };
}

function runWrk(url, script) {
  return new Promise((resolve, reject) => {
    execFile('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '--timeout', '10s', '-s', script, url], { timeout: (seconds + 30) * 1000 }, (err, stdout) => {
      if (err) return reject(new Error(`wrk failed: ${err.message}\n${stdout}`));
      const num = (re) => {
        const m = re.exec(stdout);
        return m ? Number(m[1]) : NaN;
      };
      const ms = (label) => {
        const m = new RegExp(`^\\s*${label}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(stdout);
        if (!m) return NaN;
        return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
      };
      resolve({ requests: num(/(\d+) requests in/), rps: num(/Requests\/sec:\s+([\d.]+)/), p50: ms('50'), p99: ms('99'), errors: num(/Non-2xx or 3xx responses: (\d+)/) || 0, raw: stdout });
    });
  });
}

/** RSS at rest: after start-up has settled (3 s), before any load, sampled for a second. */
async function idleRss(target) {
  await new Promise((r) => setTimeout(r, 3000));
  const idle = new RssSampler(target.pids);
  idle.start();
  await new Promise((r) => setTimeout(r, 1000));
  const s = idle.stop();
  return { idleMiB: s.sumOfPeaksMiB, idleAnonMiB: s.sumOfAnonPeaksMiB };
}

async function measure(target, run, scripts) {
  const origin = new URL(target.baseUrl).origin;
  const rss = new RssSampler(target.pids);
  const phase = async (script) => {
    rss.start();
    const cpu = new CpuWindow(target.pids);
    const r = await run(origin, script);
    const c = cpu.end();
    const peak = rss.stop();
    return { ...r, cpuUsPerReq: (c.nodesCores * c.seconds * 1e6) / r.requests, serverCores: c.nodesCores, peakRssMiB: peak.sumOfPeaksMiB, peakAnonMiB: peak.sumOfAnonPeaksMiB, lmdbMappedMiB: mappedFileMiB(target.pids(), '/data.mdb') };
  };
  const put = await phase(scripts.put);
  scripts.writeGet(Math.max(1, Math.min(GET_KEYS, put.requests - put.errors)));
  const get = await phase(scripts.get);
  return { put, get, peakRssMiB: Math.max(put.peakRssMiB, get.peakRssMiB), peakAnonMiB: Math.max(put.peakAnonMiB, get.peakAnonMiB), lmdbMappedMiB: Math.max(put.lmdbMappedMiB, get.lmdbMappedMiB) };
}

const runDir = makeTempDir('shoal-small');
const logDir = path.join(runDir, 'logs');
fs.mkdirSync(logDir);
const ctx = { repoDir: REPO, runDir, logDir, logLevel: 'warn', shoalEnv: {}, keep: opts.keep };
process.on('SIGINT', () => {
  killAllSync();
  process.exit(130);
});

/** name → the results of each round (taking turns, so that a slow minute of the host falls on every scenario alike) */
const perRound = {};
for (let round = 1; round <= rounds; round++) {
  for (const name of only) {
    process.stderr.write(`# ${name}${rounds > 1 ? ` (round ${round} of ${rounds})` : ''}: ${SCENARIOS[name].desc}\n`);
    let target;
    try {
      target = await SCENARIOS[name].start(ctx);
      const filesPath = new URL(target.baseUrl).pathname;
      const idle = await idleRss(target);
      // a short warm-up (JIT, connections, LMDB pages), not measured
      await runWrkShort(target, filesPath);
      const r = { ...idle, ...(await measure(target, runWrk, luaScripts(runDir, filesPath, `${name}-${round}`))) };
      (perRound[name] ??= []).push(r);
      process.stderr.write(`#   PUT ${r.put.rps.toFixed(0)}/s ${r.put.cpuUsPerReq.toFixed(0)} µs  GET ${r.get.rps.toFixed(0)}/s ${r.get.cpuUsPerReq.toFixed(0)} µs\n`);
    } catch (err) {
      if (err instanceof SkipError) process.stderr.write(`#   skipped: ${err.message}\n`);
      else {
        process.stderr.write(`#   FAILED: ${err.stack}\n# logs in ${logDir}\n`);
        (perRound[name] ??= []).push({ failed: err.message });
      }
    } finally {
      await target?.stop();
    }
  }
}

const median = (xs) => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
/** One row per scenario: each figure's median over its rounds (peak RSS the highest); a failed round fails the row. */
function combine(rs) {
  const failed = rs.find((r) => r.failed);
  if (failed) return failed;
  const phase = (k) => Object.fromEntries(['rps', 'p50', 'p99', 'cpuUsPerReq'].map((f) => [f, median(rs.map((r) => r[k][f]))]));
  return {
    put: phase('put'),
    get: phase('get'),
    idleMiB: median(rs.map((r) => r.idleMiB)),
    idleAnonMiB: median(rs.map((r) => r.idleAnonMiB)),
    peakRssMiB: Math.max(...rs.map((r) => r.peakRssMiB)),
    peakAnonMiB: Math.max(...rs.map((r) => r.peakAnonMiB)),
    lmdbMappedMiB: Math.max(...rs.map((r) => r.lmdbMappedMiB)),
    each: rs,
  };
}
const results = Object.fromEntries(Object.entries(perRound).map(([name, rs]) => [name, combine(rs)]));

async function runWrkShort(target, filesPath) {
  const scripts = luaScripts(runDir, filesPath, `warm-${target.name}`);
  const origin = new URL(target.baseUrl).origin;
  await new Promise((resolve) => execFile('wrk', ['-t1', `-c${connections}`, '-d2s', '-s', scripts.put, origin], { timeout: 30000 }, () => resolve()));
}

const fmt = (v, d = 0) => (Number.isFinite(v) ? v.toFixed(d) : '—');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? (a / b).toFixed(2) : '—');
const lines = [
  `| server | 4 KiB PUT req/s | p50 / p99 ms | CPU µs/PUT | 4 KiB GET req/s | p50 / p99 ms | CPU µs/GET | idle / peak RSS MiB | private: idle / peak MiB |`,
  '|---|--:|--:|--:|--:|--:|--:|--:|--:|',
];
for (const [name, r] of Object.entries(results)) {
  if (r.failed) {
    lines.push(`| ${name} | failed: ${r.failed.split('\n')[0]} ||||||||`);
    continue;
  }
  lines.push(`| ${name} | ${fmt(r.put.rps)} | ${fmt(r.put.p50, 2)} / ${fmt(r.put.p99, 2)} | ${fmt(r.put.cpuUsPerReq)} | ${fmt(r.get.rps)} | ${fmt(r.get.p50, 2)} / ${fmt(r.get.p99, 2)} | ${fmt(r.get.cpuUsPerReq)} | ${fmt(r.idleMiB)} / ${fmt(r.peakRssMiB)} | ${fmt(r.idleAnonMiB)} / ${fmt(r.peakAnonMiB)} |`);
}
if (rounds > 1) {
  lines.push('', `Each round (PUT req/s, CPU µs/PUT; GET req/s, CPU µs/GET; peak RSS MiB), in the order run:`, '');
  for (const [name, r] of Object.entries(results)) {
    if (r.failed) continue;
    lines.push(`- ${name}: ${r.each.map((e) => `${fmt(e.put.rps)}, ${fmt(e.put.cpuUsPerReq)}; ${fmt(e.get.rps)}, ${fmt(e.get.cpuUsPerReq)}; ${fmt(e.peakRssMiB)}`).join(' · ')}`);
  }
}
const R = results;
const ok = (n) => R[n] && !R[n].failed;
const ratios = [];
if (ok('single') && ok('ceiling')) ratios.push(`- single / ceiling: PUT ${ratio(R.single.put.rps, R.ceiling.put.rps)} (target ≥ 0.9), GET ${ratio(R.single.get.rps, R.ceiling.get.rps)} (target ≥ 0.8)`);
if (ok('single') && ok('floor')) ratios.push(`- node CPU per GET / bare Nest floor: ${ratio(R.single.get.cpuUsPerReq, R.floor.get.cpuUsPerReq)}× (target ≤ 1.5×); per PUT ${ratio(R.single.put.cpuUsPerReq, R.floor.put.cpuUsPerReq)}×`);
if (ok('n3') && ok('single')) ratios.push(`- n3 / single: PUT ${ratio(R.n3.put.rps, R.single.put.rps)} (target ≥ 0.45), GET ${ratio(R.n3.get.rps, R.single.get.rps)} (target ≥ 0.5)`);
for (const s of ['single', 'n3']) if (ok(s) && ok(`${s}-before`)) ratios.push(`- ${s} / ${s}-before: PUT ${ratio(R[s].put.rps, R[`${s}-before`].put.rps)}, GET ${ratio(R[s].get.rps, R[`${s}-before`].get.rps)}; CPU µs per PUT ${ratio(R[s].put.cpuUsPerReq, R[`${s}-before`].put.cpuUsPerReq)}×, per GET ${ratio(R[s].get.cpuUsPerReq, R[`${s}-before`].get.cpuUsPerReq)}×`);
if (ok('single')) ratios.push(`- single, RSS MiB idle / peak under 4 KiB load: ${fmt(R.single.idleMiB)} / ${fmt(R.single.peakRssMiB)} (targets < 110 / < 180); private (RssAnon, without the node binary's and LMDB's file pages) ${fmt(R.single.idleAnonMiB)} / ${fmt(R.single.peakAnonMiB)}; LMDB's data file mapped at the end of a phase (in VmRSS, not in RssAnon) up to ${fmt(R.single.lmdbMappedMiB)}`);
const machine = machineInfo(REPO);
const command = `node bench/small.mjs ${process.argv.slice(2).join(' ')}`.trim();
const markdown = [`Command: \`${command}\` — wrk -t1 -c${connections}, ${seconds} s per phase, 4 KiB bodies${rounds > 1 ? `, ${rounds} rounds taking turns, medians` : ''}; CPU µs per request = the servers' utime+stime over the phase / requests (for n3: all three nodes). ${machine.date}, ${machine.nproc} cores (${machine.cpuModel}), Node ${machine.node}, commit ${machine.commit}${machine.dirty ? ' (dirty)' : ''}; load generator and servers share the cores, and other work may have been running: compare within one run.`, '', ...lines, '', ...ratios].join('\n');
console.log(markdown);
if (opts['write-doc']) writeMarkedSection(path.join(REPO, 'docs', 'benchmarks.md'), { id: 'small-files', writer: command, markdown });
if (!opts.keep) removeDir(runDir);
process.exit(Object.values(results).some((r) => r.failed) ? 1 : 0);
