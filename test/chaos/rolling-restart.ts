import { requestJson } from '../support/http.js';
import { metricSum } from '../support/lifecycle.js';
import { sleep } from '../support/poll-until.js';
import type { MembershipDto } from '../../src/common/protocol/membership.dto.js';
import type { ShoalProcess } from '../support/processes.js';
import type { FaultSchedule, ScheduleContext } from './chaos-runner.js';

/** What the background moved, as one node's counters say (they start from zero at each start of the process). */
interface Moved {
  bytes: number;
  handoverEntries: number;
  hintsDelivered: number;
}

async function countersOf(node: ShoalProcess): Promise<Moved> {
  const one = [node];
  return {
    bytes: (await metricSum(one, 'shoal_background_bytes_sent_total')) + (await metricSum(one, 'shoal_sync_bytes_pulled_total')),
    handoverEntries: await metricSum(one, 'shoal_background_entries_sent_total', { purpose: 'handover' }),
    hintsDelivered: await metricSum(one, 'shoal_handoff_delivered_total'),
  };
}

/**
 * The rolling restart of a Kubernetes rollout (DESIGN §3 Lifecycle): every node in turn gets SIGTERM, stays away a
 * little, starts again on its data and must be back in service before the next one goes — round after round until the
 * load ends. Each stop must be announced (`stopped` in every registry, not removed) and end cleanly.
 *
 * It measures what the restarts cost: the file bytes the background moved between nodes (hints delivered, entries
 * handed over, anti-entropy pulls — summed over every process lifetime, since counters restart with a process), next
 * to the bytes acknowledged while some node was away (an upper bound of the writes it missed). A stop that behaved
 * like a leave would move partitions — the stopped node's whole share, away and back — on top of that.
 */
export function rollingRestart(opts: { awayMs?: number; pauseMs?: number } = {}): FaultSchedule {
  const awayMs = opts.awayMs ?? 2500;
  const pauseMs = opts.pauseMs ?? 1500;
  const moved: Moved = { bytes: 0, handoverEntries: 0, hintsDelivered: 0 };
  const baseline = new Map<ShoalProcess, Moved>();
  let missedBytes = 0;
  let restarts = 0;
  let rounds = 0;

  const add = (node: ShoalProcess, c: Moved) => {
    const b = baseline.get(node) ?? { bytes: 0, handoverEntries: 0, hintsDelivered: 0 };
    moved.bytes += c.bytes - b.bytes;
    moved.handoverEntries += c.handoverEntries - b.handoverEntries;
    moved.hintsDelivered += c.hintsDelivered - b.hintsDelivered;
  };

  async function announcedStop(ctx: ScheduleContext, node: ShoalProcess): Promise<void> {
    const id = ctx.nodeId(node);
    for (const r of ctx.registries.filter((p) => p.running)) {
      const res = await requestJson<MembershipDto>(`${r.url}/v1/nodes`, { timeoutMs: 3000 });
      const status = res.body.nodes?.find((n) => n.id === id)?.status;
      if (status !== 'stopped') ctx.violate({ kind: 'stop-not-announced', node: node.name, at: ctx.now(), detail: `${r.name} lists ${node.name} as ${status ?? 'absent'} right after its SIGTERM, not stopped` });
    }
  }

  return {
    name: 'rolling-restart',
    async run(ctx, until) {
      for (const n of ctx.nodes) baseline.set(n, await countersOf(n));
      await sleep(2000);
      while (Date.now() < until) {
        rounds++;
        for (const node of ctx.nodes) {
          // The first round always completes (every node restarted at least once, even on a slow machine).
          if (Date.now() >= until && rounds > 1) break;
          let before = ctx.bytesWritten();
          await ctx.fault('restart-node', node, awayMs, async () => {
            add(node, await countersOf(node)); // its counters die with the process
            baseline.set(node, { bytes: 0, handoverEntries: 0, hintsDelivered: 0 });
            before = ctx.bytesWritten();
            const t0 = Date.now();
            ctx.checkCleanExit(node, await node.stop(), 'rolling restart');
            const stoppedIn = Date.now() - t0;
            await announcedStop(ctx, node);
            await sleep(awayMs);
            const t1 = Date.now();
            await ctx.restart(node);
            ctx.log(`${node.name}: stopped in ${stoppedIn} ms, started again in ${Date.now() - t1} ms`);
          });
          // Written from its stop until it was back in service (up everywhere, ready): what it may have missed.
          missedBytes += ctx.bytesWritten() - before;
          restarts++;
          await sleep(pauseMs);
        }
      }
    },
    async after(ctx) {
      for (const n of ctx.nodes) add(n, await countersOf(n));
      baseline.clear();
      return { rounds, restarts, bytesMovedBetweenNodes: moved.bytes, bytesWrittenWhileANodeWasAway: missedBytes, handoverEntries: moved.handoverEntries, hintsDelivered: moved.hintsDelivered };
    },
  };
}
