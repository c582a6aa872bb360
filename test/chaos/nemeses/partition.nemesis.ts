import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { sleep } from '../../support/poll-until.js';
import type { NetHost } from '../../support/netns.js';
import type { ShoalProcess } from '../../support/processes.js';
import { Rng, substream } from '../prng.js';
import type { Nemesis, NemesisContext } from './nemesis.js';

const run = promisify(execFile);

type Kind = 'partition-isolate' | 'partition-split' | 'partition-asymmetric' | 'partition-registry';
const KINDS: Kind[] = ['partition-isolate', 'partition-split', 'partition-asymmetric', 'partition-registry'];

/**
 * Network partitions with real packets: every node runs in its own network namespace (test/support/netns.ts) and a
 * partition is a set of iptables DROP rules inside the namespaces, so what it cuts is cut for every process and
 * protocol alike. Clients and registries sit in the root namespace and keep reaching the nodes unless the fault
 * says otherwise. Kinds, one at a time:
 *  - isolate: one node cut off from every peer, while clients still reach it (its writes must be refused, not lost);
 *  - split: two nodes on each side (2|2), each side cut off from the other;
 *  - asymmetric: one node's packets to one peer are dropped, the peer's to it are not;
 *  - registry: every node's traffic to one registry is dropped (the other still answers).
 * Delay and loss (tc netem) are used when the kernel has sch_netem; it has not on every machine, which is noted.
 */
export class PartitionNemesis implements Nemesis {
  readonly name = 'partition';
  private netem?: boolean;

  async run(ctx: NemesisContext, until: number): Promise<void> {
    const lab = ctx.lab;
    if (!lab) {
      ctx.note('partition nemesis: the nodes do not run in network namespaces; no partition injected');
      return;
    }
    const rng = new Rng(substream(ctx.seed, 'partition-faults'));
    this.netem = await netemAvailable(ctx.hostOf(ctx.nodes[0])!);
    if (!this.netem) ctx.note('partition nemesis: tc netem is not available in this kernel (no sch_netem); no delay/loss injected');
    await sleep(rng.int(1000, 3000));
    for (let turn = 0; Date.now() < until; turn++) {
      // The first turns are one of each kind, so that even a short run has all of them.
      const kind = turn < KINDS.length ? KINDS[turn] : rng.pick(KINDS);
      const held = rng.int(1500, 8000);
      const at = ctx.now();
      const taken: ShoalProcess[] = [];
      try {
        const target = await this.inject(ctx, rng, kind, taken);
        if (target) {
          ctx.log(`partition: ${kind} ${target} for ${held} ms`);
          await sleep(held);
          ctx.fault(kind, target, at, held);
        }
      } catch (err) {
        ctx.violate({ kind: 'fault-injection-failed', at, detail: `${kind}: ${err instanceof Error ? err.message : String(err)}` });
      } finally {
        await lab.healAll().catch((err: unknown) => ctx.note(`partition heal failed: ${String(err)}`));
        for (const n of taken) ctx.faulty.delete(n);
      }
      if (this.netem && rng.chance(0.3)) await this.slowLinks(ctx, rng, until);
      await sleep(rng.int(2000, 6000));
    }
  }

  async heal(ctx: NemesisContext): Promise<void> {
    await ctx.lab?.healAll();
    if (this.netem) for (const n of ctx.nodes) await netem(ctx.hostOf(n)!, undefined).catch(() => undefined);
  }

  /** Applies the rules of one fault; returns a description of its target, or undefined when no node was free. */
  private async inject(ctx: NemesisContext, rng: Rng, kind: Kind, taken: ShoalProcess[]): Promise<string | undefined> {
    const lab = ctx.lab!;
    const free = ctx.nodes.filter((n) => !ctx.faulty.has(n));
    if (kind === 'partition-split') {
      const shuffled = [...ctx.nodes].sort(() => rng.next() - 0.5);
      const half = Math.floor(shuffled.length / 2);
      const [a, b] = [shuffled.slice(0, half), shuffled.slice(half)];
      for (const x of a) for (const y of b) await lab.drop(ctx.hostOf(x)!, ctx.hostOf(y)!, 'both');
      return `${a.map((n) => n.name).join('+')} | ${b.map((n) => n.name).join('+')}`;
    }
    if (kind === 'partition-registry') {
      const registry = rng.pick(ctx.registries);
      const port = String(registry.port);
      for (const n of ctx.nodes) {
        await run('ip', ['netns', 'exec', ctx.hostOf(n)!.ns, 'iptables', '-w', '-A', 'OUTPUT', '-d', lab.gateway, '-p', 'tcp', '--dport', port, '-j', 'DROP']);
      }
      return `${registry.name} cut off from every node`;
    }
    if (free.length === 0) return undefined;
    const node = rng.pick(free);
    ctx.faulty.add(node);
    taken.push(node);
    if (kind === 'partition-isolate') {
      await lab.isolate(ctx.hostOf(node)!, 'both');
      return `${node.name} cut off from its peers`;
    }
    const peer = rng.pick(ctx.nodes.filter((n) => n !== node));
    await lab.drop(ctx.hostOf(node)!, ctx.hostOf(peer)!, 'out');
    return `${node.name} → ${peer.name} dropped (${peer.name} → ${node.name} passes)`;
  }

  /** 50–200 ms of delay and 5 % loss on every node's link for a few seconds. */
  private async slowLinks(ctx: NemesisContext, rng: Rng, until: number): Promise<void> {
    const held = Math.min(rng.int(2000, 6000), Math.max(0, until - Date.now()));
    if (held === 0) return;
    const at = ctx.now();
    const delay = rng.int(50, 200);
    for (const n of ctx.nodes) await netem(ctx.hostOf(n)!, `delay ${delay}ms loss 5%`);
    await sleep(held);
    for (const n of ctx.nodes) await netem(ctx.hostOf(n)!, undefined).catch(() => undefined);
    ctx.fault('netem-delay-loss', `every link +${delay} ms, 5 % loss`, at, held);
  }
}

async function netem(host: NetHost, spec: string | undefined): Promise<void> {
  if (spec === undefined) await run('ip', ['netns', 'exec', host.ns, 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root']);
  else await run('ip', ['netns', 'exec', host.ns, 'tc', 'qdisc', 'replace', 'dev', 'eth0', 'root', 'netem', ...spec.split(' ')]);
}

async function netemAvailable(host: NetHost): Promise<boolean> {
  try {
    await netem(host, 'delay 1ms');
    await netem(host, undefined);
    return true;
  } catch {
    return false;
  }
}
