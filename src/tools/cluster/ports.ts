import { readFileSync } from 'node:fs';
import net from 'node:net';
import { randomInt } from 'node:crypto';

/** Every spawner binds and probes loopback only: tests, benchmarks and `npm run cluster` never listen beyond it. */
export const LOOPBACK = '127.0.0.1';

/** A loopback port that was free a moment ago (the kernel picks it); the caller binds it soon after. */
export function freePort(host = LOOPBACK): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Whether `port` can be bound on `host` right now. */
export function portFree(port: number, host = LOOPBACK): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** The first of `count` consecutive free loopback ports, for tools that take a base port (`--base-port`). */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = await freePort();
    if (first + count - 1 > 65535) continue;
    const rest = Array.from({ length: count - 1 }, (_, i) => first + i + 1);
    if ((await Promise.all(rest.map((p) => portFree(p)))).every(Boolean)) return first;
  }
  throw new Error(`no ${count} consecutive free ports found on ${LOOPBACK}`);
}

/** The kernel's ephemeral port range (outgoing connections take local ports from it). */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo > 0 && hi >= lo) return [lo, hi];
  } catch {
    // not Linux: the usual default below
  }
  return [32768, 60999];
}

/**
 * A free loopback port *outside* the ephemeral range: a process restarted on its old port must find it free again,
 * and a port from {@link freePort} (an ephemeral one) can meanwhile be taken by any outgoing connection.
 */
export async function stablePort(): Promise<number> {
  const [lo] = ephemeralRange();
  const min = 10000;
  const max = Math.max(min + 1000, lo - 1);
  for (let i = 0; i < 200; i++) {
    const port = min + randomInt(max - min);
    if (await portFree(port)) return port;
  }
  throw new Error(`no free port found in [${min}, ${max}] after 200 tries`);
}
