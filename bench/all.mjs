#!/usr/bin/env node
// `npm run bench`: every figure issue #14's targets are judged by, in one run — the large and small transfers against
// the node:http ceiling (bench/run.mjs: large PUT/GET ratios, peak RSS during the 1 GiB transfer), then the 4 KiB
// files under wrk beside the bare-NestJS floor (bench/small.mjs: the small-file ratios, CPU per request, RSS under
// 4 KiB load). Each prints its own table and targets.
//   node bench/all.mjs [--write-doc]    (--write-doc: each rewrites its own section of docs/benchmarks.md)
import path from 'node:path';
import { spawnSync } from 'node:child_process';

const BENCH = path.dirname(new URL(import.meta.url).pathname);
const writeDoc = process.argv.includes('--write-doc');
const unknown = process.argv.slice(2).filter((a) => a !== '--write-doc');
if (unknown.length > 0) {
  console.error(`usage: node bench/all.mjs [--write-doc]; for other options run bench/run.mjs or bench/small.mjs directly (not: ${unknown.join(' ')})`);
  process.exit(2);
}
const runs = [
  ['run.mjs', []],
  ['small.mjs', ['--seconds', '6', '--rounds', '3']],
];
let failed = false;
for (const [script, args] of runs) {
  const all = [...args, ...(writeDoc ? ['--write-doc'] : [])];
  console.log(`\n# node bench/${script} ${all.join(' ')}\n`);
  const r = spawnSync(process.execPath, [path.join(BENCH, script), ...all], { stdio: 'inherit', timeout: 60 * 60 * 1000 });
  if (r.status !== 0) {
    failed = true;
    console.error(`bench/${script} ended with ${r.status ?? r.signal}`);
  }
}
process.exit(failed ? 1 : 0);
