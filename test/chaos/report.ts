import type { WriteStream } from 'node:fs';
import { type ChaosReport, type FaultRecord, MiB, N, R, type Violation, W } from './chaos-types.js';

const MAX_VIOLATIONS_PER_KIND = 50;

/**
 * What a chaos run records as it goes: operations by kind and outcome, the fault log, violations (at most 50 kept of
 * each kind, all counted), notes, and every operation as one line of workDir/history.jsonl. The report and the human
 * summary ({@link formatSummary}) are built from it.
 */
export class RunLog {
  readonly ops: Record<string, Record<string, number>> = {};
  readonly faultLog: FaultRecord[] = [];
  readonly violations: Violation[] = [];
  readonly violationCounts: Record<string, number> = {};
  readonly notes: string[] = [];

  constructor(
    private readonly progress: (line: string) => void,
    private readonly history?: WriteStream,
  ) {}

  log(line: string): void {
    this.progress(line);
  }

  violate(v: Violation): void {
    const n = (this.violationCounts[v.kind] = (this.violationCounts[v.kind] ?? 0) + 1);
    if (n <= MAX_VIOLATIONS_PER_KIND) this.violations.push(v);
    if (n <= 3) this.log(`VIOLATION ${v.kind}${v.key ? ` ${v.key}` : ''}${v.node ? ` via ${v.node}` : ''}${v.at !== undefined ? ` at ${v.at} ms` : ''}: ${v.detail.split('\n')[0]}`);
  }

  count(kind: string, outcome: string): void {
    const byOutcome = (this.ops[kind] ??= {});
    byOutcome[outcome] = (byOutcome[outcome] ?? 0) + 1;
  }

  record(entry: Record<string, unknown>): void {
    this.history?.write(`${JSON.stringify(entry)}\n`);
  }

  fault(kind: FaultRecord['kind'], target: string, at: number, heldMs: number, now: number): void {
    this.faultLog.push({ kind, target, at, heldMs, recoveredMs: now - at });
  }

  get failed(): boolean {
    return Object.keys(this.violationCounts).length > 0;
  }

  progressLine(now: number): string {
    const ops = Object.entries(this.ops)
      .map(([kind, outcomes]) => `${kind} ${Object.values(outcomes).reduce((a, b) => a + b, 0)} (ack/ok ${outcomes.ack ?? outcomes.ok ?? 0})`)
      .join(', ');
    const violations = Object.values(this.violationCounts).reduce((a, b) => a + b, 0);
    return `t=${Math.round(now / 1000)} s: ${ops}; faults ${this.faultLog.length}; violations ${violations}`;
  }

  /** Ends history.jsonl (flushed). */
  close(): Promise<void> {
    return new Promise<void>((r) => (this.history ? this.history.end(() => r()) : r()));
  }
}

export function countBy(items: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) out[i] = (out[i] ?? 0) + 1;
  return out;
}

export function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines).join('\n');
}

/** A human summary: operations by kind and outcome, faults, convergence, violations. */
export function formatSummary(r: ChaosReport): string {
  const lines: string[] = [];
  const total = Object.values(r.violationCounts).reduce((a, b) => a + b, 0);
  lines.push(`Shoal chaos run — seed ${r.seed}, ${fmtS(r.durationMs)} of load and faults, ${r.clients} clients on ${r.keys} keys, 4 nodes (N=${N} W=${W} R=${R}), 2 registries${r.nemeses?.length ? `, nemeses: ${r.nemeses.join(', ')}` : ''}`);
  if (r.network && r.nemeses?.includes('partition')) lines.push(`partitions by: ${r.network}`);
  lines.push(`started ${r.startedAt}, wall time ${fmtS(r.wallMs)}, ${(r.bytesWritten / MiB).toFixed(1)} MiB acknowledged`);
  lines.push('operations:');
  for (const [kind, outcomes] of Object.entries(r.ops).sort()) {
    const sum = Object.values(outcomes).reduce((a, b) => a + b, 0);
    const parts = Object.entries(outcomes).sort((a, b) => b[1] - a[1]).map(([o, n]) => `${o} ${n}`);
    lines.push(`  ${kind.padEnd(7)}${String(sum).padStart(7)}   ${parts.join(', ')}`);
  }
  const faults = Object.entries(r.faults).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
  lines.push(`faults: ${faults}`);
  const recovered = r.faultLog.filter((f) => f.kind !== 'restart-registry').map((f) => f.recoveredMs);
  if (recovered.length) lines.push(`  node back in service after: median ${fmtS(median(recovered))}, max ${fmtS(Math.max(...recovered))}`);
  lines.push(`convergence: ${r.converged ? 'converged' : 'NOT converged'} ${fmtS(r.convergenceMs)} after the load ended`);
  lines.push(`final state: ${r.finalKeys.live} keys live, ${r.finalKeys.deleted} deleted, ${r.finalKeys.neverWritten} never written`);
  lines.push(`violations: ${total}${total ? ` (${Object.entries(r.violationCounts).map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}`);
  for (const v of r.violations.slice(0, 20)) {
    lines.push(`  - ${v.kind}${v.key ? ` ${v.key}` : ''}${v.node ? ` via ${v.node}` : ''}${v.at !== undefined ? ` at ${v.at} ms` : ''}: ${v.detail.split('\n')[0]}`);
  }
  for (const note of r.notes) lines.push(`note: ${note}`);
  if (total > 0) lines.push(`logs, history.jsonl and report.json: ${r.workDir}`);
  return lines.join('\n');
}

function fmtS(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
