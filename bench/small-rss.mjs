#!/usr/bin/env node
// Memory of one node under sustained 4 KiB PUTs (wrk, c=16, unique keys): every few seconds its VmRSS, its private
// memory (RssAnon), how much of LMDB's data.mdb it has mapped (/proc/PID/smaps) and the size of that file — to tell
// memory that grows with the data stored from file pages that the LMDB memory map holds and gives back.
//   node bench/small-rss.mjs [--seconds 90] [--every 5]
// Everything runs on 127.0.0.1; the load is bounded by wrk's -d; the node started here is stopped here.
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { parseArgs } from 'node:util';
import { machineInfo, makeTempDir, removeDir } from './lib/util.mjs';
import { killAllSync } from './lib/proc.mjs';
import { mappedFileMiB, readStatus } from './lib/rss.mjs';
import { startShoal } from './lib/targets.mjs';

const REPO = path.dirname(path.dirname(new URL(import.meta.url).pathname));
const opts = parseArgs({ options: { seconds: { type: 'string', default: '90' }, every: { type: 'string', default: '5' } } }).values;
const seconds = Math.min(600, Math.max(5, Number(opts.seconds) || 90));
const every = Math.min(60, Math.max(1, Number(opts.every) || 5));

const runDir = makeTempDir('shoal-small-rss');
const logDir = path.join(runDir, 'logs');
fs.mkdirSync(logDir);
process.on('SIGINT', () => {
  killAllSync();
  process.exit(130);
});
const target = await startShoal({ repoDir: REPO, runDir, logDir, logLevel: 'warn', shoalEnv: {}, keep: false }, { name: 'single', nodes: 1, n: 1, w: 1, r: 1 });
try {
  const base = new URL(target.baseUrl);
  const lua = path.join(runDir, 'put.lua');
  fs.writeFileSync(lua, `local n = 0
local pad = string.rep("x", 4096)
request = function()
  n = n + 1
  return wrk.format("PUT", "${base.pathname}rss" .. n, { ["Content-Type"] = "application/octet-stream" }, string.sub(n .. "-" .. pad, 1, 4096))
end
`);
  const pid = target.pids()[0];
  const dataFile = fs.readdirSync(`/proc/${pid}/fd`).map((fd) => { try { return fs.readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { return ''; } }).find((p) => p.endsWith('/data.mdb'));
  const rows = [];
  const sample = (t) => {
    const s = readStatus(pid) ?? { rssKiB: NaN, anonKiB: NaN };
    rows.push({ t, rss: Math.round(s.rssKiB / 1024), anon: Math.round(s.anonKiB / 1024), mapped: mappedFileMiB([pid], '/data.mdb'), file: dataFile ? Math.round(fs.statSync(dataFile).size / 1048576) : NaN });
  };
  const t0 = Date.now();
  sample(0);
  const timer = setInterval(() => sample(Math.round((Date.now() - t0) / 1000)), every * 1000);
  const out = await new Promise((resolve, reject) =>
    execFile('wrk', ['-t1', '-c16', `-d${seconds}s`, '-s', lua, base.origin], { timeout: (seconds + 30) * 1000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
  clearInterval(timer);
  sample(Math.round((Date.now() - t0) / 1000));
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)?.[1];
  const m = machineInfo(REPO);
  console.log(`Command: \`node bench/small-rss.mjs ${process.argv.slice(2).join(' ')}\` — one node, wrk -t1 -c16 -d${seconds}s of 4 KiB PUTs on unique keys, ${rps} PUT/s; ${m.date}, commit ${m.commit}${m.dirty ? ' (dirty)' : ''}.`);
  console.log('\n| s | VmRSS MiB | RssAnon MiB | data.mdb mapped MiB | data.mdb size MiB |\n|--:|--:|--:|--:|--:|');
  for (const r of rows) console.log(`| ${r.t} | ${r.rss} | ${r.anon} | ${r.mapped} | ${r.file} |`);
  const peak = (k) => Math.max(...rows.map((r) => r[k]));
  console.log(`\npeak VmRSS ${peak('rss')} MiB, RssAnon ${peak('anon')} MiB, data.mdb mapped ${peak('mapped')} MiB; data.mdb ${rows.at(-1).file} MiB at the end`);
} finally {
  await target.stop();
  removeDir(runDir);
}
