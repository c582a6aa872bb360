/**
 * The path of `/v1/files/{key}` for a key. Keys may contain `/` (DESIGN.md §2); they are sent segment by segment,
 * percent-encoded (`docs/a b.txt` → `docs/a%20b.txt`), which keeps URLs readable in logs. A key with an empty, `.` or
 * `..` segment is sent whole with `%2F` instead: URL parsers (fetch among them) would otherwise collapse `a//b`,
 * `a/./b` or `a/../b` — even written `%2e%2e` — into another key. The server decodes both forms to the same key.
 * (The one-segment keys `.` and `..` stay unreachable through a WHATWG URL for that reason.)
 */
export function keyPath(key: string): string {
  const segments = key.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return `/v1/files/${encodeURIComponent(key)}`;
  return `/v1/files/${segments.map(encodeURIComponent).join('/')}`;
}
