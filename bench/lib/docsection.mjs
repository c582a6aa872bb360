// Writes one marked section of a markdown document (create the file, append the section, or replace it in place),
// each benchmark with its own markers, so that several of them (run, small, sync) share docs/benchmarks.md.
import fs from 'node:fs';
import path from 'node:path';

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * id: marker name, e.g. 'sync' → <!-- bench:sync:start ... --> … <!-- bench:sync:end -->
 * writer: the command that writes it (shown in the start marker).
 * intro: a paragraph under the title when the document is created.
 */
export function writeMarkedSection(docPath, { id, writer, markdown, intro }) {
  const start = `<!-- bench:${id}:start (written by \`${writer}\`; edits inside are replaced) -->`;
  const startRe = new RegExp(`<!-- bench:${esc(id)}:start[^>]*-->`);
  const end = `<!-- bench:${id}:end -->`;
  const section = `${start}\n${markdown}\n${end}`;
  let text = fs.existsSync(docPath) ? fs.readFileSync(docPath, 'utf8') : '';
  const m = text.match(startRe);
  if (m && text.indexOf(end, m.index) > 0) {
    const stop = text.indexOf(end, m.index) + end.length;
    text = text.slice(0, m.index) + section + text.slice(stop);
  } else if (text) {
    text = `${text.replace(/\n*$/, '\n\n')}${section}\n`;
  } else {
    text = `# Benchmarks\n\n${intro ? `${intro}\n\n` : ''}${section}\n`;
  }
  fs.mkdirSync(path.dirname(docPath), { recursive: true });
  fs.writeFileSync(docPath, text);
}
