import { sleep } from '../../support/poll-until.js';
import type { FaultRecord } from '../chaos-types.js';
import { Rng, substream } from '../prng.js';
import type { Nemesis, NemesisContext } from './nemesis.js';

/**
 * The runner's own process faults: SIGKILL and restart, SIGSTOP/SIGCONT, and (with `gracefulRestarts`) SIGTERM and
 * start again, one node at a time; and SIGKILL + restart of one registry at a time. Never more than one node faulty
 * at a time, so W=2 stays reachable.
 */
export class ProcessNemesis implements Nemesis {
  readonly name = 'process';

  constructor(private readonly gracefulRestarts: boolean) {}

  async run(ctx: NemesisContext, until: number): Promise<void> {
    // allSettled: neither loop is left running when the other fails.
    const settled = await Promise.allSettled([this.nodeFaults(ctx, until), this.registryFaults(ctx, until)]);
    for (const s of settled) if (s.status === 'rejected') throw s.reason;
  }

  /** Nothing stays in force: every process is revived by the runner before it is judged. */
  async heal(): Promise<void> {}

  /** Kills, pauses (or gracefully restarts) one node at a time; the next fault waits until the last victim is back and ready. */
  private async nodeFaults(ctx: NemesisContext, until: number): Promise<void> {
    const rng = new Rng(substream(ctx.seed, 'node-faults'));
    await sleep(rng.int(1000, 3000));
    for (let n = 0; Date.now() < until; n++) {
      const free = ctx.nodes.filter((n) => !ctx.faulty.has(n));
      const node = rng.pick(free.length > 0 ? free : ctx.nodes);
      // The first faults are one of each kind, so that even a short run has all of them.
      const kinds: FaultRecord['kind'][] = ['kill-node', 'pause-node', ...(this.gracefulRestarts ? (['restart-node'] as const) : [])];
      const kind: FaultRecord['kind'] = n < kinds.length ? kinds[n] : rng.pick(kinds);
      // Mostly around NODE_TTL_MS (1.5 s): sometimes still "up" for the others, sometimes "down". One pause in ten
      // outlasts the peers' 15 s idle timeout, so that uploads stuck on the paused owner's leg give up.
      const held = kind === 'pause-node' && rng.chance(0.1) ? rng.int(10_000, 20_000) : rng.int(500, 6000);
      const at = ctx.now();
      ctx.faulty.add(node);
      try {
        if (kind === 'kill-node') {
          node.kill('SIGKILL');
          await node.waitExit();
          await sleep(held);
          await ctx.restart(node);
        } else if (kind === 'restart-node') {
          ctx.checkCleanExit(node, await node.stop(), 'restart-node'); // SIGTERM: a stop, the node keeps its place
          await sleep(held);
          await ctx.restart(node);
        } else {
          node.kill('SIGSTOP');
          await sleep(held);
          node.kill('SIGCONT');
        }
        await ctx.awaitHealthy(node);
      } catch (err) {
        ctx.violate({ kind: 'fault-recovery-failed', node: node.name, at, detail: `${kind}: ${err instanceof Error ? err.message : String(err)}` });
        await ctx.revive(node);
      } finally {
        ctx.faulty.delete(node);
      }
      ctx.fault(kind, node.name, at, held);
      await sleep(rng.int(1000, 4000));
    }
  }

  /** SIGKILLs and restarts one registry at a time. */
  private async registryFaults(ctx: NemesisContext, until: number): Promise<void> {
    const rng = new Rng(substream(ctx.seed, 'registry-faults'));
    await sleep(rng.int(3000, 8000));
    while (Date.now() < until) {
      const registry = rng.pick(ctx.registries);
      const held = rng.int(300, 3000);
      const at = ctx.now();
      ctx.faulty.add(registry);
      try {
        registry.kill('SIGKILL');
        await registry.waitExit();
        await sleep(held);
        await ctx.restart(registry);
      } catch (err) {
        ctx.violate({ kind: 'fault-recovery-failed', node: registry.name, at, detail: `restart-registry: ${err instanceof Error ? err.message : String(err)}` });
        await ctx.revive(registry);
      } finally {
        ctx.faulty.delete(registry);
      }
      ctx.fault('restart-registry', registry.name, at, held);
      await sleep(rng.int(4000, 12_000));
    }
  }
}
