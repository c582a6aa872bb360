import { formatSummary, runChaos } from './chaos-runner.js';

/**
 * "Proof under fire", the short run that is part of `npm test`: ~100 s of seeded load and faults on a 4-node N=3 W=2
 * R=2 cluster with 2 registries (node SIGKILL + restart, SIGSTOP/SIGCONT, registry SIGKILL + restart), then the cluster
 * heals and every acknowledged write, delete and read is checked (see chaos-runner.ts). Longer runs:
 * `node scripts/chaos.mjs --duration 10m --seed N` (docs/reliability.md).
 *
 * CHAOS_SEED and CHAOS_DURATION_MS override the defaults, to replay a failing seed under jest.
 */
const SEED = Number(process.env.CHAOS_SEED ?? 20261125);
const DURATION_MS = Number(process.env.CHAOS_DURATION_MS ?? 100_000);

describe('chaos: acknowledged data survives crashes, pauses and registry restarts', () => {
  it(
    `seed ${SEED}: no acknowledged write lost, no delete resurrected, no corrupt read, replicas converge`,
    async () => {
      const report = await runChaos({
        durationMs: DURATION_MS,
        seed: SEED,
        clients: 4,
        convergenceTimeoutMs: 45_000,
        progress: (line) => process.stderr.write(`[chaos] ${line}\n`),
      });
      const summary = formatSummary(report);
      process.stderr.write(`${summary}\n`);
      // The run must have exercised something: acknowledged writes, deletes and reads, and every kind of fault.
      expect(report.ops.put?.ack ?? 0).toBeGreaterThan(50);
      expect(report.ops.delete?.ack ?? 0).toBeGreaterThan(5);
      expect(report.ops.get?.ok ?? 0).toBeGreaterThan(50);
      expect(Object.keys(report.faults).sort()).toEqual(['kill-node', 'pause-node', 'restart-registry']);
      expect(report.violations.map((v) => `${v.kind}${v.key ? ` ${v.key}` : ''}${v.node ? ` via ${v.node}` : ''}: ${v.detail}`)).toEqual([]);
    },
    DURATION_MS + 150_000,
  );
});
