import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { NodePlacement } from '../../src/tools/cluster/local-cluster.js';
import { FaultNet } from './fault-net.js';
import { type NetHost, NetLab } from './netns.js';
import type { ShoalProcess } from './processes.js';

const run = promisify(execFile);

export type NetMechanism = 'netns' | 'proxy';
export type NetChoice = NetMechanism | 'auto';

/**
 * A test network that can partition a cluster with real packets, by one of two mechanisms behind one interface:
 *  - `netns`: every node in a network namespace of its own, faults as iptables DROP rules, delay and loss with
 *    tc netem (test/support/netns.ts). Needs root; netem also needs the kernel's sch_netem.
 *  - `proxy`: every node and registry behind a fault-injecting TCP proxy on 127.0.0.1 that peers reach it through,
 *    each node connecting out from a source address of its own (test/support/fault-net.ts). Needs nothing.
 * Endpoints are named by process name (`node-1`, `registry-2`). Processes are placed with {@link registryHost},
 * {@link registryUrl} and {@link placeNode}, which fit startCluster's `registryHost`, `registryUrl` and `nodeHost`.
 */
export interface TestNet {
  readonly mechanism: NetMechanism;
  /** where registries listen (undefined: 127.0.0.1) */
  readonly registryHost?: string;
  /** the URL nodes are given for a registry that was started */
  registryUrl(registry: ShoalProcess): Promise<string>;
  /** where node `name`, listening on `port`, runs and what it is told */
  placeNode(name: string, port: number): Promise<NodePlacement>;
  /** addresses beyond 127.0.0.1 that tests may call (the namespaces') */
  hosts(): string[];
  /** `node` cut off from every other node (both ways); registries and clients still reach it */
  isolate(node: string): Promise<void>;
  /** every node of `a` cut off from every node of `b`, both ways */
  split(a: readonly string[], b: readonly string[]): Promise<void>;
  /** packets from `from` to `to` dropped, the other way not */
  oneWay(from: string, to: string): Promise<void>;
  /** every node's traffic with `registry` dropped */
  cutRegistry(registry: string): Promise<void>;
  /** delay (ms, each way) and loss on every link between nodes; false when this mechanism cannot here */
  slow(delayMs: number, loss: number): Promise<boolean>;
  unslow(): Promise<void>;
  /** lifts every drop (not delay/loss); `reset`: the proxy resets connections the partition stalled */
  heal(opts?: { reset?: boolean }): Promise<void>;
  destroy(): Promise<void>;
  /** what the mechanism counted (the proxy: connections, bytes, resets, held chunks, loss stalls) */
  stats(): Record<string, number> | undefined;
}

/**
 * The network for `choice`: `auto` takes namespaces where they work and the proxy otherwise; `why` says which and
 * why, for the run's output. Throws when a forced mechanism is unavailable.
 */
export async function openTestNet(choice: NetChoice, random?: () => number): Promise<{ net: TestNet; why: string }> {
  if (choice !== 'proxy' && (await NetLab.available())) return { net: new NetnsNet(await NetLab.create()), why: `network namespaces (${choice === 'auto' ? 'available here' : 'asked for'})` };
  if (choice === 'netns') throw new Error('network namespaces were asked for but are refused here (not root, or no CAP_NET_ADMIN)');
  if (!(await FaultNet.available())) throw new Error('neither network namespaces nor 127.0.0.0/8 source addresses work here');
  const why = choice === 'auto' ? 'fault proxy on 127.0.0.1 (network namespaces are refused here)' : 'fault proxy on 127.0.0.1 (asked for)';
  return { net: new ProxyNet(new FaultNet(random)), why };
}

/** Reads CHAOS_NET (proxy | netns | auto; default auto). */
export function netChoice(value: string | undefined): NetChoice {
  const v = (value ?? 'auto').trim() || 'auto';
  if (v !== 'proxy' && v !== 'netns' && v !== 'auto') throw new Error(`CHAOS_NET must be proxy, netns or auto, not ${v}`);
  return v;
}

class ProxyNet implements TestNet {
  readonly mechanism = 'proxy';
  private readonly nodes: string[] = [];
  private readonly registries: string[] = [];

  constructor(private readonly fnet: FaultNet) {}

  async registryUrl(registry: ShoalProcess): Promise<string> {
    this.registries.push(registry.name);
    return (await this.fnet.front(registry.name, { port: registry.port })).url;
  }

  async placeNode(name: string, port: number): Promise<NodePlacement> {
    this.nodes.push(name);
    const proxy = await this.fnet.front(name, { port });
    return { env: { ADVERTISE_URL: proxy.url, PEER_SOURCE_ADDRESS: this.fnet.sourceAddress(name) } };
  }

  hosts(): string[] {
    return [];
  }

  async isolate(node: string): Promise<void> {
    this.fnet.isolate(node, this.nodes);
  }

  async split(a: readonly string[], b: readonly string[]): Promise<void> {
    for (const x of a) for (const y of b) this.fnet.cut(x, y);
  }

  async oneWay(from: string, to: string): Promise<void> {
    this.fnet.drop(from, to);
  }

  async cutRegistry(registry: string): Promise<void> {
    for (const n of this.nodes) this.fnet.cut(n, registry);
  }

  async slow(delayMs: number, loss: number): Promise<boolean> {
    this.fnet.setSlow({ delayMs, loss, among: this.nodes });
    return true;
  }

  async unslow(): Promise<void> {
    this.fnet.setSlow(undefined);
  }

  async heal(opts: { reset?: boolean } = {}): Promise<void> {
    this.fnet.heal(opts);
  }

  stats(): Record<string, number> {
    return { ...this.fnet.stats() };
  }

  destroy(): Promise<void> {
    return this.fnet.close();
  }
}

class NetnsNet implements TestNet {
  readonly mechanism = 'netns';
  private readonly hostOf = new Map<string, NetHost>();
  private readonly registryPorts = new Map<string, number>();
  private netem?: boolean;

  constructor(private readonly lab: NetLab) {}

  get registryHost(): string {
    return this.lab.gateway;
  }

  async registryUrl(registry: ShoalProcess): Promise<string> {
    this.registryPorts.set(registry.name, registry.port);
    return registry.url;
  }

  async placeNode(name: string): Promise<NodePlacement> {
    const host = await this.lab.addHost();
    this.hostOf.set(name, host);
    return { host: host.ip, wrap: host.wrap };
  }

  hosts(): string[] {
    return [...this.hostOf.values()].map((h) => h.ip);
  }

  async isolate(node: string): Promise<void> {
    await this.lab.isolate(this.host(node), 'both');
  }

  async split(a: readonly string[], b: readonly string[]): Promise<void> {
    for (const x of a) for (const y of b) await this.lab.drop(this.host(x), this.host(y), 'both');
  }

  async oneWay(from: string, to: string): Promise<void> {
    await this.lab.drop(this.host(from), this.host(to), 'out');
  }

  async cutRegistry(registry: string): Promise<void> {
    const port = String(this.registryPorts.get(registry));
    for (const h of this.hostOf.values()) {
      await run('ip', ['netns', 'exec', h.ns, 'iptables', '-w', '-A', 'OUTPUT', '-d', this.lab.gateway, '-p', 'tcp', '--dport', port, '-j', 'DROP']);
    }
  }

  /** tc netem on every node's link; false where the kernel has no sch_netem (probed once). */
  async slow(delayMs: number, loss: number): Promise<boolean> {
    const hosts = [...this.hostOf.values()];
    if (this.netem === undefined) this.netem = await netem(hosts[0], 'delay 1ms').then(() => netem(hosts[0], undefined)).then(() => true, () => false);
    if (!this.netem) return false;
    for (const h of hosts) await netem(h, `delay ${delayMs}ms loss ${loss * 100}%`);
    return true;
  }

  async unslow(): Promise<void> {
    if (this.netem) for (const h of this.hostOf.values()) await netem(h, undefined).catch(() => undefined);
  }

  async heal(): Promise<void> {
    await this.lab.healAll();
  }

  destroy(): Promise<void> {
    return this.lab.destroy();
  }

  stats(): undefined {
    return undefined;
  }

  private host(name: string): NetHost {
    const h = this.hostOf.get(name);
    if (!h) throw new Error(`${name} is not on this test network`);
    return h;
  }
}

async function netem(host: NetHost, spec: string | undefined): Promise<void> {
  if (spec === undefined) await run('ip', ['netns', 'exec', host.ns, 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root']);
  else await run('ip', ['netns', 'exec', host.ns, 'tc', 'qdisc', 'replace', 'dev', 'eth0', 'root', 'netem', ...spec.split(' ')]);
}
