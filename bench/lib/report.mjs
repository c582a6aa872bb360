// Markdown report: results table, ratios, targets with PASS/MISS, machine info; docs/benchmarks.md section.
import { writeMarkedSection } from './docsection.mjs';

const num = (v, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : '—');
const pct = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? (100 * a) / b : NaN);

function largeCell(r) {
  if (!r) return '—';
  if (!r.ok) return Number.isFinite(r.mibPerSec) ? `${num(r.mibPerSec)} ⚠` : 'FAIL';
  return num(r.mibPerSec);
}
function smallCells(r) {
  if (!r) return ['—', '—', '—'];
  const flag = r.errors > 0 || r.truncated ? ` ⚠${r.errors}err` : '';
  return [`${num(r.reqPerSec)}${flag}`, num(r.p50ms, 2), num(r.p99ms, 2)];
}
function rssCell(rss, multi) {
  if (!rss) return '—';
  return multi ? `${num(rss.sum)} (max ${num(rss.max)})` : num(rss.sum);
}

/** Numbers that enter the ratios and the targets; NaN when a phase failed. */
export function metrics(s) {
  const good = (r, f) => (r && (r.ok ?? (r.errors === 0 && !r.truncated)) ? f(r) : NaN);
  return {
    putL: good(s.largePut, (r) => r.mibPerSec),
    getL: good(s.largeGet, (r) => r.mibPerSec),
    putS: good(s.smallPut, (r) => r.reqPerSec),
    getS: good(s.smallGet, (r) => r.reqPerSec),
    rssL: s.rssLarge?.sum ?? NaN,
    rssMaxL: s.rssLarge?.max ?? NaN,
  };
}

export function targetsFor(byName, largeMib) {
  const c = byName.ceiling ? metrics(byName.ceiling) : null;
  const s = byName.single ? metrics(byName.single) : null;
  const n3 = byName.n3 ? metrics(byName.n3) : null;
  const rows = [];
  const ratio = (label, a, b, min, of) => {
    const v = a && b ? pct(a[of], b[of]) : NaN;
    rows.push({ label, measured: Number.isFinite(v) ? `${num(v)} %` : 'n/a', want: `≥ ${min} %`, verdict: Number.isFinite(v) ? (v >= min ? 'PASS' : 'MISS') : 'n/a' });
  };
  ratio('single: large PUT vs ceiling', s, c, 70, 'putL');
  ratio('single: large GET vs ceiling', s, c, 85, 'getL');
  ratio('single: 4 KiB PUT req/s vs ceiling', s, c, 50, 'putS');
  const rss = s ? s.rssL : NaN;
  rows.push({
    label: `single: peak RSS during the ${largeMib} MiB PUT/GET${largeMib < 1024 ? ' (target is for 1 GiB: indicative only)' : ''}`,
    measured: Number.isFinite(rss) ? `${num(rss)} MiB` : 'n/a',
    want: '< 150 MiB',
    verdict: Number.isFinite(rss) ? (rss < 150 ? 'PASS' : 'MISS') : 'n/a',
  });
  ratio('n3: large PUT vs single', n3, s, 40, 'putL');
  return rows;
}

export function renderReport({ results, machine, largeMib, smallCount, concurrency, command, shoalEnvText }) {
  const L = [];
  const sz = largeMib % 1024 === 0 ? `${largeMib / 1024} GiB` : `${largeMib} MiB`;
  L.push(`- Machine: ${machine.nproc} cores (${machine.cpuModel}), ${machine.memGiB} GiB RAM, ${machine.kernel}; Node ${machine.node}; ${machine.curl ?? 'curl ?'}${machine.nginx ? `; ${machine.nginx}` : ''}`);
  L.push(`- Date: ${machine.date}; commit ${machine.commit ?? '(none)'}${machine.dirty ? ' + uncommitted changes' : ''}`);
  L.push(`- Command: \`${command}\``);
  L.push(
    `- Large: one ${sz} file, \`curl -T\` / \`curl -o /dev/null\`, MiB/s = curl's speed_upload / speed_download. Small: ${smallCount} × 4 KiB PUT then GET of the same keys, concurrency ${concurrency}, keep-alive, after a short untimed warm-up; p50/p99 in ms. Peak RSS from /proc/<pid>/status (VmHWM reset per phase, VmRSS sampled every 100 ms), during the large PUT+GET; "(max …)" = the largest single process. Shoal started with ${shoalEnvText}. Client and servers share the same ${machine.nproc} cores; numbers swing between runs, compare within one run.`,
  );
  L.push('');
  L.push(`| scenario | PUT ${sz} MiB/s | GET ${sz} MiB/s | PUT 4 KiB req/s | p50 | p99 | GET 4 KiB req/s | p50 | p99 | peak RSS MiB (large) | peak RSS MiB (whole run) | RSS counts |`);
  L.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|');
  for (const s of results) {
    if (s.status !== 'ok') {
      L.push(`| ${s.name} | ${s.status}: ${String(s.reason).split('\n')[0].replace(/\|/g, '\\|').slice(0, 160)} ||||||||||| `);
      continue;
    }
    const multi = (s.rssLarge?.count ?? 1) > 1;
    L.push(
      `| ${s.name} | ${largeCell(s.largePut)} | ${largeCell(s.largeGet)} | ${smallCells(s.smallPut).join(' | ')} | ${smallCells(s.smallGet).join(' | ')} | ${rssCell(s.rssLarge, multi)} | ${rssCell(s.rssAll, multi)} | ${s.rssLabel} |`,
    );
  }
  const byName = Object.fromEntries(results.filter((s) => s.status === 'ok').map((s) => [s.name, s]));
  const c = byName.ceiling ? metrics(byName.ceiling) : null;
  if (c && Object.keys(byName).length > 1) {
    L.push('');
    L.push('Relative to the ceiling (bare node:http, sha256 + fsync + rename), higher is better:');
    L.push('');
    L.push('| scenario | large PUT | large GET | 4 KiB PUT | 4 KiB GET |');
    L.push('|---|--:|--:|--:|--:|');
    for (const s of results.filter((x) => x.status === 'ok' && x.name !== 'ceiling')) {
      const m = metrics(s);
      L.push(`| ${s.name} / ceiling | ${num(pct(m.putL, c.putL))} % | ${num(pct(m.getL, c.getL))} % | ${num(pct(m.putS, c.putS))} % | ${num(pct(m.getS, c.getS))} % |`);
    }
    if (byName.single && byName.n3) {
      const s1 = metrics(byName.single);
      const m = metrics(byName.n3);
      L.push(`| n3 / single | ${num(pct(m.putL, s1.putL))} % | ${num(pct(m.getL, s1.getL))} % | ${num(pct(m.putS, s1.putS))} % | ${num(pct(m.getS, s1.getS))} % |`);
    }
  }
  L.push('');
  L.push('Targets:');
  L.push('');
  L.push('| target | measured | wanted | verdict |');
  L.push('|---|--:|--:|---|');
  for (const t of targetsFor(byName, largeMib)) L.push(`| ${t.label} | ${t.measured} | ${t.want} | ${t.verdict} |`);
  const notes = [];
  for (const s of results) {
    if (s.status === 'ok') {
      for (const [phase, r] of [['large PUT', s.largePut], ['large GET', s.largeGet]]) if (r && !r.ok) notes.push(`${s.name} ${phase}: ${r.note}`);
      for (const [phase, r] of [['4 KiB PUT', s.smallPut], ['4 KiB GET', s.smallGet]])
        if (r && (r.errors || r.truncated)) notes.push(`${s.name} ${phase}: ${r.errors} errors of ${r.requested}${r.truncated ? ', stopped at the deadline' : ''}; first: ${r.firstError}`);
      for (const n of s.notes ?? []) notes.push(`${s.name}: ${n}`);
    }
  }
  if (notes.length) {
    L.push('');
    L.push('Notes:');
    L.push('');
    for (const n of notes) L.push(`- ${n}`);
  }
  return L.join('\n');
}

/** Replace the marked section of docPath (or append it; or create the file). */
export function writeDoc(docPath, markdown) {
  writeMarkedSection(docPath, {
    id: 'results',
    writer: 'node bench/run.mjs --write-doc',
    markdown: `## Latest run\n\n${markdown}`,
    intro: '`npm run bench` (= `node bench/run.mjs`) starts each server under test on 127.0.0.1, measures it, stops it and\nreplaces the section below. `--only ceiling,single,n3,nginx`, `--large-mib N`, `--small-count N`; see `node bench/run.mjs --help`.',
  });
}
