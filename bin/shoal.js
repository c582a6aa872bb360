#!/usr/bin/env node
// The `shoal` command (package.json "bin"). The CLI itself is compiled from src/cli into dist/ by `npm run build`.
const cli = await import('../dist/cli/main.js').catch((err) => {
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    process.stderr.write('shoal: dist/cli/main.js is missing; run `npm run build` first\n');
    process.exit(1);
  }
  throw err;
});

const code = await cli.main(process.argv);
process.exitCode = code;
// Results may still be flushing to a pipe, so the process is left to end on its own. After an error something may
// still hold it open (stdin being read, a socket): then end it, once the streams had a moment to drain.
if (code !== 0) setTimeout(() => process.exit(code), 1000).unref();
