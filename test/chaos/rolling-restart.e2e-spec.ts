import { runChaosInJest, violationLines } from './in-jest.js';
import { rollingRestart } from './rolling-restart.js';

/**
 * The rolling-restart nemesis (rolling-restart.ts) under the chaos suite's load and checks: every node of the 4-node
 * N=3 W=2 R=2 cluster is restarted with SIGTERM in turn, round after round, while clients write, overwrite, delete and
 * read (the first round always completes, even when the load ends first on a slow machine). Zero violations, and the bytes moved between nodes are published next to the bytes written while a node was
 * away. A short run here; a longer one: `CHAOS_DURATION_MS=600000 NODE_OPTIONS=--experimental-vm-modules npx jest
 * test/chaos/rolling-restart.e2e-spec.ts` (CHAOS_SEED replays a seed).
 */
const SEED = Number(process.env.CHAOS_SEED ?? 20261201);
const DURATION_MS = Number(process.env.CHAOS_DURATION_MS ?? 20_000); // one full round (the first always completes): every node restarted once

describe('chaos: rolling restarts (SIGTERM, one node after the other) under load', () => {
  it(
    `seed ${SEED}: every node restarted, nothing lost, replicas converge; bytes moved vs writes missed`,
    async () => {
      const report = await runChaosInJest('rolling', { durationMs: DURATION_MS, seed: SEED, schedule: rollingRestart() });
      process.stderr.write(`[rolling] ${JSON.stringify(report.schedule)}\n`);
      expect(report.ops.put?.ack ?? 0).toBeGreaterThan(30);
      expect(report.ops.get?.ok ?? 0).toBeGreaterThan(30);
      expect(Object.keys(report.faults)).toEqual(['restart-node']);
      expect(report.faults['restart-node']).toBeGreaterThanOrEqual(4); // every node at least once
      expect(violationLines(report)).toEqual([]);
      const n = report.schedule as { bytesMovedBetweenNodes: number; bytesWrittenWhileANodeWasAway: number };
      expect(n.bytesWrittenWhileANodeWasAway).toBeGreaterThan(0);
      expect(n.bytesMovedBetweenNodes).toBeGreaterThanOrEqual(0);
    },
    DURATION_MS + 200_000,
  );
});
