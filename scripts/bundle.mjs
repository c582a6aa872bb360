// Bundles the server entry point into one file, in place of tsc's dist/main.js.
//
// Why: a node process spends most of its start-up loading modules, not running them — Nest, Swagger, class-validator,
// rxjs, pino, express and the app make ~2 200 ESM/CJS files, and resolving, opening and linking them cost ≈ 1 s of
// CPU per start (measured with `node --cpu-prof`: compileSourceTextModule, openFileHandle, URL/package.json
// resolution on top). One file starts in about half the time, which makes a restart (and the test suite, which
// starts hundreds of nodes) cheaper. tsc still emits every module (the CLI, the tools and the tests use them); only
// dist/main.js is replaced. dist/main.js keeps its depth under the repository, so `new URL('../package.json',
// import.meta.url)` still finds package.json.
//
// Left outside the bundle (resolved from node_modules at run time): packages that load files next to themselves —
// lmdb (a native addon, and msgpackr with it), swagger-ui-dist (the UI's static files), pino (its transports run
// worker files) — Nest's optional integrations, which Nest probes with require() and must find missing — and
// Express's router (see `external` below).
import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const entry = path.join(root, 'dist', 'main.js');

await build({
  entryPoints: [entry],
  outfile: entry,
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked', // maps through tsc's own maps to src/*.ts (node --enable-source-maps uses them)
  legalComments: 'none',
  // V8 keeps a module's whole source in the heap (for lazy compilation and toString): the unminified bundle's 5.7 MB
  // were a 10.9 MiB string there. Whitespace and syntax minification (names kept, see below) bring it to 4.0 MB and a
  // node's idle RSS from 101–106 to 97–98 MiB (docs/benchmarks.md, memory). Stack traces point into the bundle either
  // way; the linked source map turns them back into src/*.ts (node --enable-source-maps).
  minifyWhitespace: true,
  minifySyntax: true,
  // Class names are what Nest logs as a logger's context and uses in its errors: keep them when the bundle has two
  // top-level names alike (esbuild would otherwise call one of them ClientAuthGuard2).
  keepNames: true,
  logLevel: 'warning',
  external: [
    'lmdb', 'msgpackr', 'swagger-ui-dist', 'pino', 'thread-stream',
    '@nestjs/microservices', '@nestjs/microservices/*', '@nestjs/websockets', '@nestjs/websockets/*',
    '@nestjs/platform-socket.io', '@fastify/static', 'class-transformer/storage',
    // keepNames wraps every named function the bundle creates at run time in a __name() call (Object.defineProperty);
    // the router makes several per request (next, param callbacks, route dispatch), which cost ≈ 3 % of a node's CPU
    // under 4 KiB GETs (docs/benchmarks.md). Loaded from node_modules (six small files), it runs as its authors wrote it.
    'router',
  ],
  // CommonJS packages inside an ES module bundle still call require() for node built-ins and the externals above.
  banner: { js: "import { createRequire as __shoalCreateRequire } from 'node:module'; const require = __shoalCreateRequire(import.meta.url);" },
});
