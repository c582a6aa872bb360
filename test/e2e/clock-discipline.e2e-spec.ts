import type { MembershipDto } from '../../src/common/protocol/membership.dto.js';
import type { NodeInfoDto } from '../../src/node/api/files.dto.js';
import { faketimeAvailable, faketimeEnv } from '../support/faketime.js';
import { requestJson } from '../support/http.js';
import { pollUntil } from '../support/poll-until.js';
import type { ShoalProcess } from '../support/processes.js';
import { type Cluster, startCluster } from '../support/start-cluster.js';
import { withLogs } from '../support/with-logs.js';

/**
 * Clock discipline (DESIGN §3 Clocks) with a real skewed clock: a node started under libfaketime one hour ahead is
 * measured by the registry from its heartbeats, flagged, refuses to coordinate writes with 503 CLOCK_SKEW while it
 * keeps serving reads and its replicas, and coordinates again once restarted with a right clock.
 */
const describeIf = faketimeAvailable() ? describe : describe.skip;

describeIf('a node whose clock is an hour off', () => {
  let cluster: Cluster | undefined;
  let fast: ShoalProcess;
  let fastId: string;

  beforeAll(async () => {
    cluster = await startCluster({ nodes: 3, nodeEnv: { REPLICATION_FACTOR: '3', WRITE_QUORUM: '2' } });
    fast = await cluster.addNode(faketimeEnv('+1h'));
    await cluster.waitForMembership();
    fastId = (await requestJson<NodeInfoDto>(`${fast.url}/v1/node`)).body.id;
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  const put = async (node: ShoalProcess, key: string, text: string) => {
    const res = await fetch(`${node.url}/v1/files/${key}`, { method: 'PUT', body: text, signal: AbortSignal.timeout(10_000) });
    return { status: res.status, headers: res.headers, body: (await res.json()) as { code?: string; nodes?: string[]; clockOffsetMs?: number[] } };
  };

  it('is measured and flagged by the registry: GET /v1/nodes, the metric and the status page', withLogs(() => cluster, async () => {
    const list = await pollUntil(async () => {
      const { body } = await requestJson<MembershipDto>(`${cluster!.registry.url}/v1/nodes`);
      expect(body.nodes.find((n) => n.id === fastId)?.clockSkewed).toBe(true);
      return body;
    });
    const me = list.nodes.find((n) => n.id === fastId)!;
    expect(me.clockOffsetMs!).toBeGreaterThan(-3_600_000 - 2000);
    expect(me.clockOffsetMs!).toBeLessThan(-3_600_000 + 2000);
    for (const n of list.nodes.filter((x) => x.id !== fastId)) {
      expect(n.clockSkewed).toBe(false);
      expect(Math.abs(n.clockOffsetMs!)).toBeLessThan(500);
    }
    const metrics = await (await fetch(`${cluster!.registry.url}/metrics`)).text();
    const gauge = new RegExp(`^shoal_clock_offset_seconds\\{node="${fastId}"\\} (-?[\\d.e+-]+)$`, 'm').exec(metrics);
    expect(Number(gauge?.[1])).toBeCloseTo(-3600, -1);
    const page = await (await fetch(`${cluster!.registry.url}/`)).text();
    expect(page).toContain('skewed, no writes');
  }));

  it('answers writes it would coordinate with 503 CLOCK_SKEW, keeps serving reads and its replica role', withLogs(() => cluster, async () => {
    await pollUntil(async () => expect((await put(fast, 'skew/refused', 'x')).status).toBe(503));
    const refused = await put(fast, 'skew/refused', 'x');
    expect(refused.body.code).toBe('CLOCK_SKEW');
    expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(refused.headers.get('retry-after')).toBe('5');
    const del = await fetch(`${fast.url}/v1/files/skew/refused`, { method: 'DELETE' });
    expect(del.status).toBe(503);
    // Nothing of the refused write exists anywhere.
    expect((await fetch(`${cluster!.nodes[0].url}/v1/files/skew/refused`)).status).toBe(404);
    // Reads through it and writes landing on it as an owner go on: write 30 keys through a good node.
    const good = cluster!.nodes[0];
    let heldByFast = 0;
    for (let i = 0; i < 30; i++) {
      const r = await put(good, `skew/ok-${i}`, `v${i}`);
      expect(r.status).toBe(201);
      if (r.body.nodes?.includes(fastId)) heldByFast++;
      const read = await fetch(`${fast.url}/v1/files/skew/ok-${i}`);
      expect(read.status).toBe(200);
      expect(await read.text()).toBe(`v${i}`);
    }
    expect(heldByFast).toBeGreaterThan(0);
  }));

  it('coordinates writes again once its clock is back', withLogs(() => cluster, async () => {
    await fast.restart({ LD_PRELOAD: undefined, FAKETIME: undefined, FAKETIME_DONT_FAKE_MONOTONIC: undefined });
    await pollUntil(async () => expect((await put(fast, 'skew/after', 'fixed')).status).toBe(201), { timeoutMs: 15_000 });
    await pollUntil(async () => {
      const { body } = await requestJson<MembershipDto>(`${cluster!.registry.url}/v1/nodes`);
      expect(body.nodes.find((n) => n.id === fastId)?.clockSkewed).toBe(false);
    });
  }));
});
