import { EventEmitter } from 'node:events';
import net, { type Socket } from 'node:net';

/**
 * One fault-injecting TCP proxy on 127.0.0.1 in front of one endpoint's peer-facing port (see fault-net.ts, which
 * owns the rules and tells sources apart). Every accepted connection is relayed byte for byte to the endpoint, each
 * direction through a {@link Pipe} that asks the rules, chunk by chunk, what happens to bytes going that way:
 *
 *  - `drop` (iptables DROP): nothing crosses. Bytes are held, not discarded, and the sender is paused once 1 MiB
 *    waits, as TCP would retransmit into a full window; the endpoint learns of a new connection only when its first
 *    byte crosses (a dropped SYN). Applications give up by their own timeouts, as in a real partition; on heal the
 *    held bytes flow (a short partition: TCP's retransmissions get through) or, with `heal({ reset: true })`, every
 *    stalled connection is reset (a partition that outlasted TCP's retransmission limit).
 *  - `reset` (REJECT with tcp-reset): the connection is reset at once, and so is any existing one when bytes try to
 *    cross.
 *  - delay and loss: each chunk is delivered `delayMs` after it was read, in order and without capping the throughput;
 *    loss is modelled as TCP shows it to applications — nothing goes missing, but a chunk that holds a lost segment
 *    (each 1448-byte segment is lost with probability `loss`) arrives one retransmission timeout late
 *    (max(200 ms, 2 × delay): Linux's minimum RTO, or a round trip), holding back what follows it.
 */

/** What happens to bytes from `from` to `to` right now. */
export interface LinkState {
  verdict: 'pass' | 'drop' | 'reset';
  delayMs: number;
  /** chance that one 1448-byte segment is lost (0–1) */
  loss: number;
}

/** The rules a proxy asks; `changed` is emitted whenever they change, so that held bytes are looked at again. */
export interface LinkRules extends EventEmitter {
  link(from: string, to: string): LinkState;
  /** The endpoint a connection comes from, by its source address (unknown addresses keep their address as name). */
  sourceOf(address: string): string;
  random(): number;
}

export interface ProxyStats {
  connections: number;
  /** bytes relayed, both directions */
  bytes: number;
  /** connections reset by a `reset` rule or a heal with reset */
  resets: number;
  /** chunks that had to wait for a `drop` rule to lift */
  held: number;
  /** chunks delayed by a modelled segment loss */
  lossStalls: number;
}

const MSS = 1448;
const HIGH_WATER = 1024 * 1024;

export class FaultProxy {
  readonly stats: ProxyStats = { connections: 0, bytes: 0, resets: 0, held: 0, lossStalls: 0 };
  private readonly conns = new Set<Conn>();
  private server?: net.Server;
  private portNo = 0;

  /** `name`: the endpoint behind it (rules name it); `target`: where it really listens. */
  constructor(
    readonly name: string,
    readonly target: { host: string; port: number },
    readonly rules: LinkRules,
  ) {}

  get port(): number {
    return this.portNo;
  }

  get url(): string {
    return `http://127.0.0.1:${this.portNo}`;
  }

  /** Starts listening (on a free loopback port unless one is given). */
  async listen(port = 0): Promise<void> {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.portNo = (server.address() as net.AddressInfo).port;
  }

  /** Connections open right now (tests look at them). */
  get open(): number {
    return this.conns.size;
  }

  /** Resets every connection held back by a `drop` rule; the others go on. */
  resetStalled(): void {
    for (const c of this.conns) if (c.stalled()) c.reset();
  }

  /** Stops listening and resets every connection. */
  async close(): Promise<void> {
    for (const c of this.conns) c.reset();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private accept(client: Socket): void {
    const source = this.rules.sourceOf(client.remoteAddress ?? '?');
    const conn = new Conn(this, client, source);
    this.stats.connections++;
    this.conns.add(conn);
    conn.closed.then(() => this.conns.delete(conn), () => this.conns.delete(conn));
  }
}

/** One relayed connection: the client's socket, the endpoint's (opened once a first byte crosses), two pipes. */
class Conn {
  private upstream?: Socket;
  private readonly up: Pipe;
  private down?: Pipe;
  private done = false;
  private resolveClosed!: () => void;
  readonly closed = new Promise<void>((resolve) => (this.resolveClosed = resolve));

  constructor(
    readonly proxy: FaultProxy,
    readonly client: Socket,
    readonly source: string,
  ) {
    client.on('error', () => undefined); // a reset from either side ends the connection; 'close' follows
    client.on('close', () => this.maybeClosed());
    this.up = new Pipe(this, client, (open) => (open ? this.openUpstream() : this.upstream), source, proxy.name);
    if (proxy.rules.link(source, proxy.name).verdict === 'reset') this.reset();
    else client.resume();
  }

  stalled(): boolean {
    return this.up.holding || Boolean(this.down?.holding);
  }

  /** Both sockets reset (RST), at once. */
  reset(): void {
    if (this.done) return;
    this.done = true;
    this.proxy.stats.resets++;
    for (const s of [this.client, this.upstream]) if (s && !s.destroyed) s.resetAndDestroy();
    this.up.stop();
    this.down?.stop();
  }

  private openUpstream(): Socket {
    if (this.upstream) return this.upstream;
    const { host, port } = this.proxy.target;
    const upstream = (this.upstream = net.connect({ host, port, allowHalfOpen: true }));
    upstream.on('error', () => undefined);
    // The endpoint is down (refused) or went away: the client sees its connection end the same way.
    upstream.on('close', (hadError) => {
      if (hadError && !this.client.destroyed) this.client.resetAndDestroy();
      this.maybeClosed();
    });
    this.down = new Pipe(this, upstream, () => this.client, this.proxy.name, this.source);
    return upstream;
  }

  private maybeClosed(): void {
    if (!this.client.destroyed || (this.upstream && !this.upstream.destroyed)) return;
    this.done = true;
    this.up.stop();
    this.down?.stop();
    this.resolveClosed();
  }
}

/** One direction of a connection: reads `from`, delivers to `to()` as the rules allow. */
class Pipe {
  private readonly queue: { data: Buffer; due: number }[] = [];
  private queued = 0;
  private lastDue = 0;
  private ended = false;
  private aborted = false;
  private timer?: NodeJS.Timeout;
  private waitingDrain = false;
  private stopped = false;
  /** bytes wait for a `drop` rule to lift */
  holding = false;
  private readonly onChange = () => this.pump();

  constructor(
    private readonly conn: Conn,
    private readonly from: Socket,
    /** the socket bytes go to; `open`: create it if it does not exist yet (the endpoint's, on the first byte) */
    private readonly to: (open: boolean) => Socket | undefined,
    private readonly src: string,
    private readonly dst: string,
  ) {
    const rules = conn.proxy.rules;
    rules.on('changed', this.onChange);
    from.on('data', (chunk: Buffer) => this.push(chunk));
    from.on('end', () => {
      this.ended = true;
      this.pump();
    });
    from.on('close', () => {
      if (!this.ended) this.aborted = true; // reset, not FIN: passed on as a reset once the rules let it through
      this.pump();
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.conn.proxy.rules.off('changed', this.onChange);
  }

  private push(data: Buffer): void {
    const { rules, stats } = this.conn.proxy;
    const link = rules.link(this.src, this.dst);
    let due = Date.now() + link.delayMs;
    if (link.loss > 0 && rules.random() < 1 - (1 - link.loss) ** Math.ceil(data.length / MSS)) {
      due += Math.max(200, 2 * link.delayMs);
      stats.lossStalls++;
    }
    this.lastDue = Math.max(due, this.lastDue); // in order: a late chunk holds back the ones after it
    this.queue.push({ data, due: this.lastDue });
    this.queued += data.length;
    if (this.queued > HIGH_WATER) this.from.pause();
    this.pump();
  }

  private pump(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const pending = this.queue.length > 0 || this.ended || this.aborted;
    if (!pending) return;
    const { verdict } = this.conn.proxy.rules.link(this.src, this.dst);
    if (verdict === 'reset') return this.conn.reset();
    if (verdict === 'drop') {
      if (!this.holding && this.queue.length) this.conn.proxy.stats.held++;
      this.holding = true;
      return;
    }
    this.holding = false;
    if (this.waitingDrain) return;
    const now = Date.now();
    while (this.queue.length && this.queue[0].due <= now) {
      const { data } = this.queue.shift()!;
      this.queued -= data.length;
      const to = this.to(true)!;
      if (to.destroyed) continue;
      this.conn.proxy.stats.bytes += data.length;
      if (!to.write(data)) {
        this.waitingDrain = true;
        to.once('drain', () => {
          this.waitingDrain = false;
          this.pump();
        });
        break;
      }
    }
    if (this.queued <= HIGH_WATER / 2 && this.from.isPaused() && !this.from.destroyed) this.from.resume();
    if (this.queue.length) {
      if (!this.waitingDrain) this.timer = setTimeout(() => this.pump(), this.queue[0].due - now);
      return;
    }
    if (!this.ended && !this.aborted) return;
    this.stop(); // the last thing this direction carries
    const to = this.to(false);
    if (!to) {
      // Nothing ever crossed: the endpoint never heard of this connection; the client's side just closes.
      this.from.destroy();
    } else if (this.aborted) {
      if (!to.destroyed) to.resetAndDestroy();
    } else if (this.ended) to.end();
  }
}
