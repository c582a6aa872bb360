import type { Writable } from 'node:stream';

/**
 * Where a command writes: results on `stdout` (a table or JSON), progress and messages on `stderr`, so that
 * `shoal get key - | …` and `shoal ls --json | jq` stay clean.
 */
export interface CliIo {
  stdout: Writable;
  stderr: Writable & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { fd?: number };
}

export function printJson(out: Writable, value: unknown): void {
  out.write(`${JSON.stringify(value, null, 2)}\n`);
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** `1536` → `1.5 KiB`; bytes stay exact below 1 KiB. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '?';
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

/** A compact, sortable timestamp: `2026-11-25 12:00:00` (UTC), or `-` when absent. */
export function formatTime(iso: string | undefined): string {
  if (!iso) return '-';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export interface Column<T> {
  header: string;
  value: (row: T) => string;
  /** Right-align (numbers). */
  right?: boolean;
}

/** Plain aligned columns with a header line, like `ls -l` or `kubectl get`; the last column is not padded. */
export function formatTable<T>(rows: readonly T[], columns: readonly Column<T>[], withHeader = true): string {
  const cells = rows.map((row) => columns.map((c) => c.value(row)));
  const all = withHeader ? [columns.map((c) => c.header), ...cells] : cells;
  const widths = columns.map((_, i) => Math.max(0, ...all.map((r) => r[i].length)));
  return all
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : columns[i].right ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
        .join('  ')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('');
}

/** Aligned `label: value` lines, for one record (`stat`, `status`). */
export function formatFields(fields: ReadonlyArray<[string, string]>): string {
  const width = Math.max(...fields.map(([label]) => label.length)) + 1;
  return fields.map(([label, value]) => `${`${label}:`.padEnd(width)} ${value}\n`).join('');
}
