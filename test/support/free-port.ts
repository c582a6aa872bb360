import net from 'node:net';

const HOST = '127.0.0.1';

/** A loopback port that was free a moment ago (the kernel picks it); the caller binds it soon after. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The first of `count` consecutive free loopback ports, for tools that take a base port (`--base-port`). */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = await freePort();
    if (first + count - 1 > 65535) continue;
    const rest = Array.from({ length: count - 1 }, (_, i) => first + i + 1);
    if ((await Promise.all(rest.map(isFree))).every(Boolean)) return first;
  }
  throw new Error(`no ${count} consecutive free ports found on ${HOST}`);
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, HOST, () => server.close(() => resolve(true)));
  });
}
