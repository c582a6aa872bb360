import { formatSummary, runChaos } from './chaos-runner.js';
import { NetLab } from '../support/netns.js';
import { faketimeAvailable } from '../support/faketime.js';

/**
 * "Proof under fire", the short run that is part of `npm test`: ~100 s of seeded load and faults on a 4-node N=3 W=2
 * R=2 cluster with 2 registries (node SIGKILL + restart, SIGSTOP/SIGCONT, registry SIGKILL + restart), real network
 * partitions between the nodes' network namespaces (isolated node, 2|2 split, asymmetric, a registry cut off) and
 * nodes restarted under libfaketime minutes to hours off, then the cluster heals and every acknowledged write,
 * delete and read is checked, including the real-time order of acknowledged versions (see chaos-runner.ts). The
 * registries tolerate any clock skew here, so skewed nodes keep coordinating writes and owner fencing is what keeps
 * the order; clock-discipline.e2e-spec.ts covers the refusal. Longer runs:
 * `node scripts/chaos.mjs --duration 10m --seed N` (docs/reliability.md).
 *
 * CHAOS_SEED and CHAOS_DURATION_MS override the defaults, to replay a failing seed under jest.
 */
const SEED = Number(process.env.CHAOS_SEED ?? 20261125);
const DURATION_MS = Number(process.env.CHAOS_DURATION_MS ?? 100_000);
/** Partitions need root (network namespaces); without it the run says so in its notes and goes on without them. */
const PARTITIONS = await NetLab.available();
const CLOCKS = faketimeAvailable();

describe('chaos: acknowledged data survives crashes, pauses, registry restarts, partitions and skewed clocks', () => {
  it(
    `seed ${SEED}: no acknowledged write lost, no delete resurrected, no corrupt read, replicas converge`,
    async () => {
      const report = await runChaos({
        durationMs: DURATION_MS,
        seed: SEED,
        clients: 4,
        convergenceTimeoutMs: 45_000,
        nemeses: ['partition', 'clock'],
        registryMaxClockSkewMs: 24 * 3_600_000,
        progress: (line) => process.stderr.write(`[chaos] ${line}\n`),
      });
      const summary = formatSummary(report);
      process.stderr.write(`${summary}\n`);
      // The run must have exercised something: acknowledged writes, deletes and reads, and every kind of fault.
      expect(report.ops.put?.ack ?? 0).toBeGreaterThan(50);
      expect(report.ops.delete?.ack ?? 0).toBeGreaterThan(5);
      expect(report.ops.get?.ok ?? 0).toBeGreaterThan(50);
      const expected = ['kill-node', 'pause-node', 'restart-registry'];
      if (PARTITIONS) expected.push('partition-isolate', 'partition-split', 'partition-asymmetric', 'partition-registry');
      else process.stderr.write('[chaos] network namespaces are refused here: no partition in this run\n');
      if (CLOCKS) expected.push('clock-skew');
      expect(Object.keys(report.faults)).toEqual(expect.arrayContaining(expected));
      expect(report.violations.map((v) => `${v.kind}${v.key ? ` ${v.key}` : ''}${v.node ? ` via ${v.node}` : ''}: ${v.detail}`)).toEqual([]);
    },
    DURATION_MS + 150_000,
  );
});
