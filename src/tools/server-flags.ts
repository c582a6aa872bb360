/**
 * Node/V8 flags every Shoal server process is started with (`npm start`, `npm run cluster`, the test and bench
 * spawners; the Dockerfile sets them as its NODE_OPTIONS, so that a deployment can override them). They cannot be
 * set from inside the process: V8 sizes its heap at start-up, and `v8.setFlagsFromString` after that has no effect.
 *
 * `--max-semi-space-size=4`: a 4 MiB semi-space instead of V8's default 16 MiB (on this 64-bit build) cut idle RSS by
 * ≈ 18 MiB and peak RSS under 4 KiB load by ≈ 30 MiB with the same request rate (docs/benchmarks.md, memory). Short-
 * lived request garbage dies young either way; a smaller nursery is scavenged more often but each scavenge is cheaper.
 *
 * `--max-old-space-size=512`: a heap limit of 512 MiB instead of the default (a quarter of the machine's memory, up
 * to 4 GiB) makes V8 grow the old generation in small steps instead of letting it reach ≈ 3.5× the live heap between
 * major collections. Under sustained 4 KiB load the node's private memory (RssAnon) peaked at 82–87 MiB instead of
 * 180–191, at the same CPU per request (docs/benchmarks.md, "Memory under small-file load"); limits of 96, 256 and
 * 1024 MiB gave 79–94 MiB. The live heap of a busy node is ≈ 30–40 MiB (a heap snapshot after load), and request
 * bodies are Buffers outside the V8 heap, so 512 MiB leaves more than ten times the headroom.
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--max-old-space-size=512'];
