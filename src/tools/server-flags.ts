/**
 * Node/V8 flags every Shoal server process is started with (`npm start`, `npm run cluster`, the test and bench
 * spawners; the Dockerfile repeats them in its CMD). They cannot be set from inside the process: V8 sizes its young
 * generation at start-up, and `v8.setFlagsFromString` after that has no effect on it.
 *
 * `--max-semi-space-size=4`: a 4 MiB semi-space instead of V8's default 16 MiB (on this 64-bit build) cut idle RSS by
 * ≈ 18 MiB and peak RSS under 4 KiB load by ≈ 30 MiB with the same request rate (docs/benchmarks.md, memory). Short-
 * lived request garbage dies young either way; a smaller nursery is scavenged more often but each scavenge is cheaper.
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];
