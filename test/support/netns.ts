import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { allowTestHost } from './http.js';

const run = promisify(execFile);

/**
 * A private test network of real network namespaces (DESIGN §3's partitions, with real packets): one bridge in the
 * root namespace holding the first address of a /24, and one namespace per host, joined to it by a veth pair. The
 * test process and anything it runs in the root namespace (registries, clients) talk to the hosts over the bridge;
 * a partition is a set of iptables DROP rules inside a host's namespace, so it drops exactly what it names.
 * Needs root (CAP_NET_ADMIN), iproute2 and iptables; {@link NetLab.available} says whether this machine allows it.
 * Everything is named after the test's pid and removed by {@link NetLab.destroy}.
 */
export class NetLab {
  readonly bridge: string;
  /** the root namespace's address on the bridge: where registries listen and clients come from */
  readonly gateway: string;
  private readonly prefix: string;
  private readonly hosts: NetHost[] = [];
  private added = 0;
  private readonly tag: string;
  private static created = 0;

  private constructor(tag: string, subnet: string) {
    this.tag = tag;
    this.prefix = subnet;
    this.bridge = `shb${tag}`;
    this.gateway = `${subnet}.1`;
  }

  /** Whether namespaces, veth pairs and iptables work here (root, and a kernel that allows them). */
  static async available(): Promise<boolean> {
    const probe = `shoalprobe${process.pid % 100000}`;
    try {
      await run('ip', ['netns', 'add', probe]);
      await run('ip', ['netns', 'exec', probe, 'iptables', '-A', 'INPUT', '-s', '10.0.0.1', '-j', 'DROP']);
      return true;
    } catch {
      return false;
    } finally {
      await run('ip', ['netns', 'del', probe]).catch(() => undefined);
    }
  }

  /** A fresh bridge on a /24 chosen from the test's pid and a counter (10.100–199.x.0/24). */
  static async create(): Promise<NetLab> {
    const n = NetLab.created++;
    const tag = `${process.pid % 100000}${n ? `x${n}` : ''}`;
    const subnet = `10.${100 + (process.pid % 100)}.${(Math.floor(process.pid / 100) + n * 37) % 256}`;
    const lab = new NetLab(tag, subnet);
    await run('ip', ['link', 'add', lab.bridge, 'type', 'bridge']);
    await run('ip', ['addr', 'add', `${lab.gateway}/24`, 'dev', lab.bridge]);
    await run('ip', ['link', 'set', lab.bridge, 'up']);
    allowTestHost(lab.gateway);
    return lab;
  }

  /** One more namespace on the bridge; its processes are launched with {@link NetHost.wrap}. */
  async addHost(): Promise<NetHost> {
    const i = ++this.added; // taken at once: hosts may be added concurrently
    const host = new NetHost(`shoal${this.tag}h${i}`, `${this.prefix}.${i + 1}`, `sv${this.tag}h${i}`);
    this.hosts.push(host); // before anything exists, so that destroy() removes whatever part of it was made
    await run('ip', ['netns', 'add', host.ns]);
    await run('ip', ['link', 'add', host.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.ns]);
    await run('ip', ['link', 'set', host.veth, 'master', this.bridge, 'up']);
    await run('ip', ['-n', host.ns, 'addr', 'add', `${host.ip}/24`, 'dev', 'eth0']);
    await run('ip', ['-n', host.ns, 'link', 'set', 'eth0', 'up']);
    await run('ip', ['-n', host.ns, 'link', 'set', 'lo', 'up']);
    allowTestHost(host.ip);
    return host;
  }

  /**
   * Cuts `host` off from the other hosts (not from the gateway: registries and clients still reach it).
   * `direction`: `both`, `in` (it receives nothing from them) or `out` (it sends nothing to them).
   */
  async isolate(host: NetHost, direction: 'both' | 'in' | 'out' = 'both'): Promise<void> {
    const others = this.hosts.filter((h) => h !== host);
    for (const o of others) await this.drop(host, o, direction);
  }

  /** Drops traffic between `a` and `b` as seen from inside `a` (`in`: from b, `out`: to b). */
  async drop(a: NetHost, b: NetHost, direction: 'both' | 'in' | 'out' = 'both'): Promise<void> {
    if (direction !== 'out') await iptables(a, ['-A', 'INPUT', '-s', b.ip, '-j', 'DROP']);
    if (direction !== 'in') await iptables(a, ['-A', 'OUTPUT', '-d', b.ip, '-j', 'DROP']);
  }

  /** Cuts the host off from the gateway too (e.g. from a registry), or only from it. */
  async cutFromGateway(host: NetHost): Promise<void> {
    await iptables(host, ['-A', 'INPUT', '-s', this.gateway, '-j', 'DROP']);
    await iptables(host, ['-A', 'OUTPUT', '-d', this.gateway, '-j', 'DROP']);
  }

  /** Removes every rule in the host's namespace. */
  async heal(host: NetHost): Promise<void> {
    await iptables(host, ['-F']);
  }

  async healAll(): Promise<void> {
    for (const h of this.hosts) await this.heal(h);
  }

  /** Deletes the namespaces (their veths go with them) and the bridge. Call once every process in them has exited. */
  async destroy(): Promise<void> {
    for (const h of this.hosts) await run('ip', ['netns', 'del', h.ns]).catch(() => undefined);
    await run('ip', ['link', 'del', this.bridge]).catch(() => undefined);
  }
}

export class NetHost {
  constructor(
    readonly ns: string,
    readonly ip: string,
    readonly veth: string,
  ) {}

  /** The command prefix that runs a process inside this host's namespace. */
  get wrap(): string[] {
    return ['ip', 'netns', 'exec', this.ns];
  }
}

async function iptables(host: NetHost, args: string[]): Promise<void> {
  await run('ip', ['netns', 'exec', host.ns, 'iptables', '-w', ...args]);
}
