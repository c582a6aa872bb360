import type { ClusterSummaryDto, MembershipDto, NodeRecordDto } from '../../common/protocol/membership.dto.js';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function ago(iso: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}

/** A leaving node's progress as last reported ("12 partitions, 3.4 MiB left"), or when it left. */
function decommissionCell(n: NodeRecordDto, now: number): string {
  const d = n.decommission;
  if (!d) return '';
  if (d.leftAt) return `left ${ago(d.leftAt, now)}`;
  if (d.entriesLeft === undefined) return `requested ${ago(d.requestedAt, now)}, no report yet`;
  return `${d.partitionsLeft ?? '?'} partitions, ${d.entriesLeft} entries, ${formatBytes(d.bytesLeft ?? 0)} left`;
}

/** The registry's clock minus the node's; flagged when beyond MAX_CLOCK_SKEW_MS (the node then refuses writes). */
function clock(n: { clockOffsetMs?: number; clockSkewed?: boolean }): string {
  if (n.clockOffsetMs === undefined) return '–';
  const ms = n.clockOffsetMs;
  const text = Math.abs(ms) < 10_000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
  return n.clockSkewed ? `${text} · skewed, no writes` : text;
}

/** A self-contained status page (no scripts, no assets): it refreshes itself every few seconds. */
export function renderStatusPage(m: MembershipDto, c: ClusterSummaryDto, now = Date.now()): string {
  const rows = m.nodes
    .map(
      (n) => `<tr class="${n.status}"><td>${esc(n.id)}</td><td><span class="badge">${n.status}</span></td>` +
        `<td><a href="${esc(n.url)}/docs">${esc(n.url)}</a></td><td>${esc(n.zone ?? '')}</td>` +
        `<td class="num">${n.files}</td><td class="num">${formatBytes(n.usedBytes)}</td>` +
        `<td class="num">${formatBytes(n.freeBytes)} of ${formatBytes(n.capacityBytes)}</td>` +
        `<td title="${esc(n.lastHeartbeatAt)}">${ago(n.lastHeartbeatAt, now)}</td>` +
        `<td class="decommission">${esc(decommissionCell(n, now))}</td>` +

        `<td class="num${n.clockSkewed ? ' skewed' : ''}">${clock(n)}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="3">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Shoal cluster</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#1d2733;background:#f6f8fa}
h1{font-size:1.4rem;margin:0 0 1rem}.cards{display:flex;gap:1rem;flex-wrap:wrap;margin-bottom:1.5rem}
.card{background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:.8rem 1.2rem;min-width:8rem}
.card b{display:block;font-size:1.4rem}table{border-collapse:collapse;width:100%;background:#fff}
th,td{padding:.45rem .7rem;border-bottom:1px solid #e4e8ec;text-align:left}.num{text-align:right}
.badge{padding:.1rem .5rem;border-radius:1rem;color:#fff;font-weight:600}
.up .badge{background:#1a7f37}.down .badge{background:#bf8700}.dead .badge{background:#cf222e}
.stopped .badge{background:#6e7781}.leaving .badge{background:#8250df}.left .badge{background:#57606a}
footer{margin-top:1rem;color:#57606a}.skewed{color:#cf222e;font-weight:600}
</style></head><body>
<h1>Shoal cluster</h1>
<div class="cards">
<div class="card">nodes up<b id="up">${c.nodes.up}</b></div>
<div class="card">down<b id="down">${c.nodes.down}</b></div>
<div class="card">dead<b id="dead">${c.nodes.dead}</b></div>
<div class="card">stopped<b id="stopped">${c.nodes.stopped}</b></div>
<div class="card">leaving<b id="leaving">${c.nodes.leaving}</b></div>
<div class="card">left<b id="left">${c.nodes.left}</b></div>
<div class="card">files (all copies)<b>${c.files}</b></div>
<div class="card">used<b>${formatBytes(c.usedBytes)}</b></div>
<div class="card">free<b>${formatBytes(c.freeBytes)}</b></div>
<div class="card">epoch<b>${c.epoch}</b></div>
</div>
<table id="nodes"><thead><tr><th>node</th><th>status</th><th>address</th><th>zone</th><th class="num">files</th>
<th class="num">used</th><th class="num">free</th><th>last heartbeat</th><th>decommission</th><th class="num">clock offset</th></tr></thead>
<tbody>
${rows || '<tr><td colspan="9">no node has registered yet</td></tr>'}
</tbody></table>
<footer>Refreshes every 3 s · <a href="/v1/nodes">/v1/nodes</a> · <a href="/v1/cluster">/v1/cluster</a> · <a href="/docs">API docs</a> · ${new Date(now).toISOString()}</footer>
</body></html>`;
}
