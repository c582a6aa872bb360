import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { partitionOf } from '../../src/node/storage/partition.js';
import { requestJson } from '../support/http.js';
import { pollUntil } from '../support/poll-until.js';
import { type Cluster, startCluster } from '../support/start-cluster.js';
import { withLogs } from '../support/with-logs.js';

/**
 * A SIGTERM must end a node promptly even while its background work waits on a peer that a partition stalled (the
 * chaos run of 2026-12-03 found a graceful restart SIGKILLed after 5 s during a split). The peer here is a real HTTP
 * server registered as a node: it answers the anti-entropy digests (so that the node asks for entries) and then
 * holds what comes next — a page request, or a blob whose body stops half-way — as a peer behind a partition does.
 */
const BITS = 4;
const BLOB_SIZE = 4 * 1024 * 1024;

interface BlackHole {
  url: string;
  /** requests held open, by kind */
  held: Map<string, number>;
  close(): void;
}

/** `stall`: what to hold — a page of partition entries, or a blob's body after its first half. */
async function blackHole(stall: 'page' | 'body'): Promise<BlackHole> {
  const held = new Map<string, number>();
  const hold = (kind: string) => held.set(kind, (held.get(kind) ?? 0) + 1);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    req.resume();
    if (url.pathname === '/internal/sync/digests') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ equal: false, digests: {} })); // every shared partition differs
      return;
    }
    const page = /^\/internal\/sync\/partitions\/(\d+)$/.exec(url.pathname);
    if (page && stall === 'page') return hold('page');
    if (page) {
      const p = Number(page[1]);
      let key = 'stall/0';
      for (let i = 0; partitionOf(key, BITS) !== p; i++) key = `stall/${i}`;
      const version = `${Date.now().toString(16).padStart(12, '0')}.000001.black-hole`;
      const entry = { key, version, sha256: 'ab'.repeat(32), size: BLOB_SIZE, contentType: 'application/octet-stream', updatedAt: Date.now(), deleted: false };
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ entries: [entry], truncated: false }));
      return;
    }
    if (url.pathname.startsWith('/internal/blobs/')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BLOB_SIZE) });
      res.write(Buffer.alloc(BLOB_SIZE / 2)); // and never the rest
      return hold('body');
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    held,
    close: () => {
      server.close();
      server.closeAllConnections();
    },
  };
}

describe('a SIGTERM ends background work stalled on a peer', () => {
  let cluster: Cluster;
  let hole: BlackHole | undefined;
  let beats: NodeJS.Timeout | undefined;
  afterEach(async () => {
    clearInterval(beats);
    hole?.close();
    await cluster?.stop();
  });

  /** One node and the black hole as its co-owner of every partition; resolves once the hole holds a `kind`. */
  async function stalled(kind: 'page' | 'body'): Promise<Cluster> {
    cluster = await startCluster({
      nodes: 1,
      registryEnv: { NODE_TTL_MS: '1500' },
      nodeEnv: { REPLICATION_FACTOR: '2', WRITE_QUORUM: '1', READ_QUORUM: '1', PARTITION_BITS: String(BITS), SYNC_INTERVAL_MS: '300' },
    });
    const hole2 = (hole = await blackHole(kind));
    const registry = cluster.registry.url;
    const auth = { token: cluster.token };
    const body = { capacityBytes: 1e12, freeBytes: 1e12, partitionBits: BITS };
    const reg = await requestJson(`${registry}/v1/nodes`, { ...auth, json: { id: 'black-hole', url: hole2.url, ...body } });
    expect([reg.status, JSON.stringify(reg.body)]).toEqual([201, expect.anything()]);
    // Heartbeats keep it `up` (bounded: the interval is cleared after each test).
    beats = setInterval(() => void requestJson(`${registry}/v1/nodes/black-hole/heartbeat`, { ...auth, method: 'PUT', json: { freeBytes: 1e12, files: 0 } }).catch(() => undefined), 300);
    await pollUntil(async () => expect(hole2.held.get(kind) ?? 0).toBeGreaterThan(0), { timeoutMs: 15_000, message: `the node never asked the black hole for a ${kind}` });
    return cluster;
  }

  for (const kind of ['page', 'body'] as const) {
    it(`stalled on a ${kind === 'page' ? 'page of entries' : "blob's body"}: it exits cleanly within 3 s`, withLogs(() => cluster, async () => {
      const [node] = (await stalled(kind)).nodes;
      const t = Date.now();
      const exit = await node.stop(10_000); // SIGTERM, and SIGKILL after 10 s: a hung stop fails here, bounded
      const took = Date.now() - t;
      expect(exit.signal === 'SIGTERM' || exit.code === 0).toBe(true);
      // Without aborting, the wait is a page's 9 s timeout, or — for a body that stalls — the workers' 25 s deadline.
      expect(took).toBeLessThan(3000);
    }), 60_000);
  }
});
