import { runChaosInJest, violationLines } from './in-jest.js';
import { netChoice } from '../support/test-net.js';
import { faketimeAvailable } from '../support/faketime.js';

/**
 * "Proof under fire", the short run that is part of `npm test`: ~100 s of seeded load and faults on a 4-node N=3 W=2
 * R=2 cluster with 2 registries (node SIGKILL + restart, SIGSTOP/SIGCONT, registry SIGKILL + restart), real network
 * partitions (isolated node, 2|2 split, asymmetric, a registry cut off: network namespaces, or the fault proxy where
 * they are refused; plus delay and loss where the mechanism can) and
 * nodes restarted under libfaketime minutes to hours off, then the cluster heals and every acknowledged write,
 * delete and read is checked, including the real-time order of acknowledged versions (see chaos-runner.ts). The
 * registries tolerate any clock skew here, so skewed nodes keep coordinating writes and owner fencing is what keeps
 * the order; clock-discipline.e2e-spec.ts covers the refusal. Longer runs:
 * `node scripts/chaos.mjs --duration 10m --seed N` (docs/reliability.md).
 *
 * CHAOS_SEED and CHAOS_DURATION_MS override the defaults, to replay a failing seed under jest; CHAOS_NET=proxy|netns
 * chooses the partition mechanism.
 */
const SEED = Number(process.env.CHAOS_SEED ?? 20261125);
const DURATION_MS = Number(process.env.CHAOS_DURATION_MS ?? 100_000);
/**
 * Partitions by network namespaces where they work (root), else by the fault proxy on 127.0.0.1; CHAOS_NET=proxy
 * (or netns) forces one. The run prints which ("partitions by: …").
 */
const NET = netChoice(process.env.CHAOS_NET);
const CLOCKS = faketimeAvailable();

describe('chaos: acknowledged data survives crashes, pauses, registry restarts, partitions and skewed clocks', () => {
  it(
    `seed ${SEED}: no acknowledged write lost, no delete resurrected, no corrupt read, replicas converge`,
    async () => {
      const report = await runChaosInJest('chaos', { durationMs: DURATION_MS, seed: SEED, nemeses: ['partition', 'clock'], registryMaxClockSkewMs: 24 * 3_600_000, net: NET });
      process.stderr.write(`[chaos] partitions by: ${report.network}\n`);
      // The run must have exercised something: acknowledged writes, deletes and reads, and every kind of fault.
      expect(report.ops.put?.ack ?? 0).toBeGreaterThan(50);
      expect(report.ops.delete?.ack ?? 0).toBeGreaterThan(5);
      expect(report.ops.get?.ok ?? 0).toBeGreaterThan(50);
      const expected = ['kill-node', 'pause-node', 'restart-registry', 'partition-isolate', 'partition-split', 'partition-asymmetric', 'partition-registry'];
      // The proxy always models delay and loss; namespaces only where the kernel has sch_netem (noted when not).
      if (report.network?.startsWith('fault proxy')) expected.push('delay-loss');
      if (CLOCKS) expected.push('clock-skew');
      expect(Object.keys(report.faults)).toEqual(expect.arrayContaining(expected));
      expect(violationLines(report)).toEqual([]);
    },
    DURATION_MS + 150_000,
  );
});
