import { EventEmitter } from 'node:events';
import net from 'node:net';
import { FaultProxy, type LinkRules, type LinkState, type ProxyStats } from './fault-proxy.js';

/**
 * Network faults with real sockets where network namespaces are refused (no root, no CAP_NET_ADMIN): every
 * endpoint (node, registry) gets a {@link FaultProxy} on 127.0.0.1 in front of its peer-facing port, and the others
 * reach it only through that proxy (a node's ADVERTISE_URL and the nodes' REGISTRY_URL name the proxies); the test's
 * own clients keep using the real ports, so a fault cuts peers off while clients still get through. Each node also
 * connects out from an address of its own on 127.0.0.0/8 (PEER_SOURCE_ADDRESS), which is how a proxy knows which node
 * a connection comes from — needed for one-way faults (A→B dropped, B→A not) and for cutting one node off.
 *
 * Rules are about bytes in one direction, as iptables rules are about packets: `drop(a, b)` stops what a sends to b,
 * on every connection, whoever opened it. So with a→b dropped, a's requests to b never arrive, and b's requests to a
 * arrive but a's answers do not (b times out not knowing whether a acted). See fault-proxy.ts for what each fault
 * does to the bytes.
 */
export class FaultNet extends EventEmitter implements LinkRules {
  private readonly proxies = new Map<string, FaultProxy>();
  private readonly sources = new Map<string, string>();
  private readonly rules = new Map<string, 'drop' | 'reset'>();
  private slow?: { delayMs: number; loss: number; among: Set<string> };
  private nextSource = 0;

  /** `random`: where loss draws come from (a seeded generator makes a run repeatable). */
  constructor(private readonly rand: () => number = Math.random) {
    super();
    this.setMaxListeners(0); // every pipe of every connection listens for rule changes
  }

  /**
   * Whether this machine can tell nodes apart by source address: binding a socket to 127.0.0.2 (Linux routes all of
   * 127.0.0.0/8 to the loopback interface; some systems give it only 127.0.0.1).
   */
  static async available(): Promise<boolean> {
    const server = net.createServer((s) => s.destroy());
    try {
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
      const { port } = server.address() as net.AddressInfo;
      return await new Promise<boolean>((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
        s.once('connect', () => resolve(s.localAddress === '127.0.0.2'));
        s.once('error', () => resolve(false));
        s.once('close', () => resolve(false));
      });
    } catch {
      return false;
    } finally {
      server.close();
    }
  }

  /**
   * A source address of its own for endpoint `name` (its PEER_SOURCE_ADDRESS): 127.0.0.2, .3, … then 127.0.1.x.
   * Several nets may hand out the same addresses: a proxy only ever hears from the nodes of its own net.
   */
  sourceAddress(name: string): string {
    for (const [addr, n] of this.sources) if (n === name) return addr;
    const i = this.nextSource++;
    const addr = `127.0.${Math.floor(i / 250)}.${(i % 250) + 2}`;
    this.sources.set(addr, name);
    return addr;
  }

  /** A proxy in front of `name`, which really listens on `target`; peers must be given its `url`. */
  async front(name: string, target: { host?: string; port: number }, port = 0): Promise<FaultProxy> {
    if (this.proxies.has(name)) throw new Error(`${name} has a proxy already`);
    const proxy = new FaultProxy(name, { host: target.host ?? '127.0.0.1', port: target.port }, this);
    await proxy.listen(port);
    this.proxies.set(name, proxy);
    return proxy;
  }

  proxyOf(name: string): FaultProxy | undefined {
    return this.proxies.get(name);
  }

  /** Bytes from `from` to `to` are dropped (held, then released or reset on heal) or refused with a reset. */
  drop(from: string, to: string, how: 'drop' | 'reset' = 'drop'): void {
    this.rules.set(`${from}\n${to}`, how);
    this.emit('changed');
  }

  /** Both directions between `a` and `b`. */
  cut(a: string, b: string, how: 'drop' | 'reset' = 'drop'): void {
    this.drop(a, b, how);
    this.drop(b, a, how);
  }

  /** `name` cut off (both ways) from each of `others`. */
  isolate(name: string, others: readonly string[], how: 'drop' | 'reset' = 'drop'): void {
    for (const o of others) if (o !== name) this.cut(name, o, how);
  }

  /** Delay (ms, one way) and segment loss on every link between two of `among`; `undefined` lifts it. */
  setSlow(faults: { delayMs: number; loss: number; among: readonly string[] } | undefined): void {
    this.slow = faults && { delayMs: faults.delayMs, loss: faults.loss, among: new Set(faults.among) };
    this.emit('changed');
  }

  /**
   * Lifts every drop rule (not delay and loss: {@link setSlow}). `reset`: connections still holding bytes are reset
   * rather than let through, as TCP gives up on a connection a partition outlasted (minutes, on Linux).
   */
  heal(opts: { reset?: boolean } = {}): void {
    if (opts.reset) for (const p of this.proxies.values()) p.resetStalled();
    this.rules.clear();
    this.emit('changed');
  }

  get dropping(): boolean {
    return this.rules.size > 0;
  }

  /** Totals over every proxy. */
  stats(): ProxyStats {
    const total: ProxyStats = { connections: 0, bytes: 0, resets: 0, held: 0, lossStalls: 0 };
    for (const p of this.proxies.values()) for (const k of Object.keys(total) as (keyof ProxyStats)[]) total[k] += p.stats[k];
    return total;
  }

  async close(): Promise<void> {
    this.rules.clear();
    this.slow = undefined;
    await Promise.all([...this.proxies.values()].map((p) => p.close()));
    this.proxies.clear();
  }

  // LinkRules, asked by the proxies

  link(from: string, to: string): LinkState {
    const slow = this.slow && this.slow.among.has(from) && this.slow.among.has(to) ? this.slow : undefined;
    return { verdict: this.rules.get(`${from}\n${to}`) ?? 'pass', delayMs: slow?.delayMs ?? 0, loss: slow?.loss ?? 0 };
  }

  sourceOf(address: string): string {
    return this.sources.get(address.replace(/^::ffff:/, '')) ?? address;
  }

  random(): number {
    return this.rand();
  }
}
