import http from 'node:http';
import { requestJson } from '../support/http.js';
import { NetLab } from '../support/netns.js';
import { pollUntil, sleep } from '../support/poll-until.js';
import type { ShoalProcess } from '../support/processes.js';
import { type Cluster, startCluster } from '../support/start-cluster.js';
import { type NetMechanism, openTestNet, type TestNet } from '../support/test-net.js';
import { withLogs } from '../support/with-logs.js';

/**
 * DESIGN §3 Upload: a 503 leaves nothing behind. The coordinator commits its own copy (and writes hints) only once the
 * remote acknowledgements in hand make W with it; when W is out of reach it aborts every leg before any owner
 * commits. Two real failures: an owner killed with SIGKILL in the middle of the body, and a coordinator cut off from
 * its peers by a real network partition (network namespaces and iptables DROP rules, or the fault proxy; see
 * test/support/test-net.ts).
 */

interface Listing {
  items: { key: string; version: string }[];
}

async function localVersion(node: ShoalProcess, key: string): Promise<string | undefined> {
  const { body } = await requestJson<Listing>(`${node.url}/v1/files?local=true&prefix=${encodeURIComponent(key)}`);
  return body.items.find((i) => i.key === key)?.version;
}

/** A coordinator caps N and W at the nodes it knows: wait until it has heard of every owner, up. */
async function seesAllUp(node: ShoalProcess, n: number): Promise<void> {
  await pollUntil(async () => (await requestJson<{ members: { status: string }[] }>(`${node.url}/v1/node`)).body.members.filter((m) => m.status === 'up').length === n, { timeoutMs: 15_000, message: `${node.name} does not see ${n} nodes up` });
}

describe('an owner killed in the middle of the body', () => {
  let cluster: Cluster | undefined;

  beforeAll(async () => {
    // W = N = 3: losing any owner mid-body makes W impossible. A quick sync so a surviving copy would show.
    cluster = await startCluster({ nodes: 3, nodeEnv: { REPLICATION_FACTOR: '3', WRITE_QUORUM: '3', READ_QUORUM: '1', SYNC_INTERVAL_MS: '1000' } });
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  it('→ 503 with Retry-After, and the write never appears anywhere, also after the owner is back', withLogs(() => cluster, async () => {
    const [coordinator, survivor, victim] = cluster!.nodes;
    await seesAllUp(coordinator, 3);
    const key = 'killed-mid-body';
    const chunk = Buffer.alloc(256 * 1024, 7);
    const reply = new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
      const req = http.request(`${coordinator.url}/v1/files/${key}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' } }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      });
      req.on('error', reject);
      void (async () => {
        for (let i = 0; i < 8; i++) {
          req.write(chunk);
          await sleep(50);
        }
        victim.kill('SIGKILL');
        await victim.waitExit();
        for (let i = 0; i < 8; i++) {
          if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
          await sleep(50);
        }
        req.end();
      })().catch(reject);
    });
    const res = await reply;
    expect(res.status).toBe(503);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.headers['retry-after']).toBeDefined();
    const problem = JSON.parse(res.body) as { code: string; indeterminate?: boolean };
    expect(problem.code).toBe('INSUFFICIENT_REPLICAS');
    expect(problem.indeterminate).toBe(false);
    expect(await localVersion(coordinator, key)).toBeUndefined();
    expect(await localVersion(survivor, key)).toBeUndefined();

    await victim.restart();
    await cluster!.waitForMembership();
    await sleep(4000); // several sync rounds and hint deliveries
    for (const n of cluster!.nodes) {
      expect(await localVersion(n, key)).toBeUndefined();
      expect((await fetch(`${n.url}/v1/files/${key}`)).status).toBe(404);
    }
    const info = await requestJson<{ handoffPending: number }>(`${coordinator.url}/v1/node`);
    expect(info.body.handoffPending).toBe(0);
  }), 60_000);
});

/**
 * The partition, by both mechanisms of test/support/test-net.ts: network namespaces with iptables DROP rules (needs
 * root; skipped elsewhere, saying so) and the fault-injecting TCP proxy on 127.0.0.1 (runs everywhere), which drops
 * the isolated node's peer traffic the same way while the registry and the client still reach it.
 */
const netnsOk = await NetLab.available();
if (!netnsOk) process.stderr.write('no-trace-on-503: network namespaces unavailable here (not root?); the partition runs through the fault proxy only\n');
const mechanisms: NetMechanism[] = netnsOk ? ['netns', 'proxy'] : ['proxy'];

describe.each(mechanisms)('a coordinator partitioned from its peers (%s)', (mechanism) => {
  let net: TestNet | undefined;
  let cluster: Cluster | undefined;

  beforeAll(async () => {
    net = (await openTestNet(mechanism)).net;
    const placed = net;
    cluster = await startCluster({
      nodes: 3,
      registryHost: placed.registryHost,
      registryUrl: (r) => placed.registryUrl(r),
      nodeHost: (i, port) => placed.placeNode(`node-${i}`, port),
      nodeEnv: { REPLICATION_FACTOR: '3', WRITE_QUORUM: '2', READ_QUORUM: '2', SYNC_INTERVAL_MS: '1000' },
    });
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
    await net?.destroy();
  });

  it('refuses a write within seconds with 503, and after healing the earlier acknowledged value is everywhere', withLogs(() => cluster, async () => {
    const [isolated, majority] = cluster!.nodes;
    for (const n of cluster!.nodes) await seesAllUp(n, 3);
    const key = 'partitioned';
    const first = await fetch(`${majority.url}/v1/files/${key}`, { method: 'PUT', body: 'majority' });
    expect(first.status).toBe(201);
    const acked = ((await first.json()) as { version: string }).version;

    await net!.isolate(isolated.name);
    const started = Date.now();
    const refused = await fetch(`${isolated.url}/v1/files/${key}`, { method: 'PUT', body: 'isolated', signal: AbortSignal.timeout(20_000) });
    const tookMs = Date.now() - started;
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBeDefined();
    expect(((await refused.json()) as { code: string }).code).toBe('INSUFFICIENT_REPLICAS');
    expect(tookMs).toBeLessThan(5000);
    // A delete through the isolated node is refused the same way.
    expect((await fetch(`${isolated.url}/v1/files/${key}`, { method: 'DELETE', signal: AbortSignal.timeout(20_000) })).status).toBe(503);
    // The cut is real: the isolated node still answers its client, and its peers are still up in the registry.
    expect((await fetch(`${isolated.url}/health/live`)).status).toBe(200);

    await net!.heal();
    await sleep(3000); // sync rounds and hint deliveries, had anything been left behind
    await pollUntil(async () => {
      for (const n of cluster!.nodes) {
        const r = await fetch(`${n.url}/v1/files/${key}`);
        expect(r.status).toBe(200);
        expect(await r.text()).toBe('majority');
        expect(await localVersion(n, key)).toBe(acked);
      }
    }, { timeoutMs: 15_000 });
  }), 60_000);
});
