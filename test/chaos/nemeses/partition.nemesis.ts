import { sleep } from '../../support/poll-until.js';
import type { ShoalProcess } from '../../support/processes.js';
import { Rng, substream } from '../prng.js';
import type { Nemesis, NemesisContext } from './nemesis.js';

type Kind = 'partition-isolate' | 'partition-split' | 'partition-asymmetric' | 'partition-registry';
const KINDS: Kind[] = ['partition-isolate', 'partition-split', 'partition-asymmetric', 'partition-registry'];

/**
 * Network partitions with real packets, by whichever mechanism the run's test network has (test/support/test-net.ts):
 * nodes in network namespaces with iptables DROP rules, or every node and registry behind a fault-injecting TCP
 * proxy on 127.0.0.1 that peers reach it through. Either way clients and the checker keep reaching every node
 * directly, unless the fault says otherwise. Kinds, one at a time:
 *  - isolate: one node cut off from every peer, while clients still reach it (its writes must be refused, not lost);
 *  - split: two nodes on each side (2|2), each side cut off from the other;
 *  - asymmetric: one node's packets to one peer are dropped, the peer's to it are not;
 *  - registry: every node's traffic with one registry is dropped (the other still answers).
 * Between partitions, sometimes 50–200 ms of delay (each way) and 5 % loss on every link between nodes: tc netem
 * where the kernel has sch_netem, else the proxy's model of it (delay per chunk; loss as retransmission stalls).
 * With the proxy, a heal sometimes resets the connections the partition stalled (a partition that outlasted TCP's
 * retransmissions) rather than letting their held bytes through (a short one).
 */
export class PartitionNemesis implements Nemesis {
  readonly name = 'partition';
  private slowable = true;

  async run(ctx: NemesisContext, until: number): Promise<void> {
    const net = ctx.net;
    if (!net) {
      ctx.note('partition nemesis: the run has no test network; no partition injected');
      return;
    }
    const rng = new Rng(substream(ctx.seed, 'partition-faults'));
    await sleep(rng.int(1000, 3000));
    for (let turn = 0; Date.now() < until; turn++) {
      // The first turns are one of each kind, so that even a short run has all of them.
      const kind = turn < KINDS.length ? KINDS[turn] : rng.pick(KINDS);
      const held = rng.int(1500, 8000);
      const at = ctx.now();
      const taken: ShoalProcess[] = [];
      const reset = net.mechanism === 'proxy' && rng.chance(0.25);
      try {
        const target = await this.inject(ctx, rng, kind, taken);
        if (target) {
          ctx.log(`partition (${net.mechanism}): ${kind} ${target} for ${held} ms${reset ? ', stalled connections reset on heal' : ''}`);
          await sleep(held);
          ctx.fault(kind, target, at, held);
        }
      } catch (err) {
        ctx.violate({ kind: 'fault-injection-failed', at, detail: `${kind}: ${err instanceof Error ? err.message : String(err)}` });
      } finally {
        await net.heal({ reset }).catch((err: unknown) => ctx.note(`partition heal failed: ${String(err)}`));
        for (const n of taken) ctx.faulty.delete(n);
      }
      // Delay and loss once early (so that a short run has it too), then now and then.
      if (this.slowable && (turn === 0 || rng.chance(0.3))) await this.slowLinks(ctx, rng, until);
      await sleep(rng.int(2000, 6000));
    }
  }

  async heal(ctx: NemesisContext): Promise<void> {
    await ctx.net?.heal();
    await ctx.net?.unslow();
  }

  /** Applies the rules of one fault; returns a description of its target, or undefined when no node was free. */
  private async inject(ctx: NemesisContext, rng: Rng, kind: Kind, taken: ShoalProcess[]): Promise<string | undefined> {
    const net = ctx.net!;
    const free = ctx.nodes.filter((n) => !ctx.faulty.has(n));
    if (kind === 'partition-split') {
      const shuffled = [...ctx.nodes].sort(() => rng.next() - 0.5);
      const half = Math.floor(shuffled.length / 2);
      const [a, b] = [shuffled.slice(0, half), shuffled.slice(half)];
      await net.split(a.map((n) => n.name), b.map((n) => n.name));
      return `${a.map((n) => n.name).join('+')} | ${b.map((n) => n.name).join('+')}`;
    }
    if (kind === 'partition-registry') {
      const registry = rng.pick(ctx.registries);
      await net.cutRegistry(registry.name);
      return `${registry.name} cut off from every node`;
    }
    if (free.length === 0) return undefined;
    const node = rng.pick(free);
    ctx.faulty.add(node);
    taken.push(node);
    if (kind === 'partition-isolate') {
      await net.isolate(node.name);
      return `${node.name} cut off from its peers`;
    }
    const peer = rng.pick(ctx.nodes.filter((n) => n !== node));
    await net.oneWay(node.name, peer.name);
    return `${node.name} → ${peer.name} dropped (${peer.name} → ${node.name} passes)`;
  }

  /** 50–200 ms of delay (each way) and 5 % loss on every link between nodes for a few seconds. */
  private async slowLinks(ctx: NemesisContext, rng: Rng, until: number): Promise<void> {
    const net = ctx.net!;
    const held = Math.min(rng.int(2000, 6000), Math.max(0, until - Date.now()));
    if (held === 0) return;
    const at = ctx.now();
    const delay = rng.int(50, 200);
    if (!(await net.slow(delay, 0.05))) {
      this.slowable = false;
      ctx.note(`partition nemesis: ${net.mechanism} cannot add delay and loss here (tc netem needs the kernel's sch_netem; CHAOS_NET=proxy models them); none injected`);
      return;
    }
    ctx.log(`partition (${net.mechanism}): every link between nodes +${delay} ms each way, 5 % loss, for ${held} ms`);
    try {
      await sleep(held);
    } finally {
      await net.unslow().catch((err: unknown) => ctx.note(`lifting delay/loss failed: ${String(err)}`));
    }
    ctx.fault('delay-loss', `every link between nodes +${delay} ms, 5 % loss (${net.mechanism})`, at, held);
  }
}
