import type { NodeInfoDto } from '../../src/node/api/files.dto.js';
import { faketimeAvailable, faketimeEnv } from '../support/faketime.js';
import { deleteFile, getFile, putFile } from '../support/files.js';
import { requestJson } from '../support/http.js';
import { expectedOwners } from '../support/placement.js';
import { pollUntil } from '../support/poll-until.js';
import type { ShoalProcess } from '../support/processes.js';
import { type Cluster, startCluster } from '../support/start-cluster.js';
import { withLogs } from '../support/with-logs.js';

/**
 * Owner-fenced versions (DESIGN §3) with real clocks apart: 5 nodes, N=3, W=2, one node running an hour ahead and one
 * an hour behind under libfaketime. The registry's MAX_CLOCK_SKEW_MS is raised here so that it does not flag the
 * skewed nodes and they still coordinate writes — these tests are about what fencing guarantees whatever the clocks;
 * clock-discipline.e2e-spec.ts covers the refusal of a skewed coordinator. The nodes keep the default bound, so they
 * count the versions from the future that the fast node sends them.
 */
const describeIf = faketimeAvailable() ? describe : describe.skip;

describeIf('versions stay in real-time order whatever the clocks (faketime ±1 h)', () => {
  let cluster: Cluster | undefined;
  let normal: ShoalProcess[];
  let fast: ShoalProcess;
  let slow: ShoalProcess;
  const ids = new Map<ShoalProcess, string>();

  beforeAll(async () => {
    cluster = await startCluster({
      nodes: 3,
      registryEnv: { MAX_CLOCK_SKEW_MS: String(3 * 3_600_000) },
      nodeEnv: { REPLICATION_FACTOR: '3', WRITE_QUORUM: '2', READ_QUORUM: '2' },
    });
    normal = [...cluster.nodes];
    fast = await cluster.addNode(faketimeEnv('+1h'));
    slow = await cluster.addNode(faketimeEnv('-1h'));
    await cluster.waitForMembership();
    for (const n of cluster.nodes) ids.set(n, (await requestJson<NodeInfoDto>(`${n.url}/v1/node`)).body.id);
    // Every node must place with all five, or a write could go to a smaller owner set.
    await pollUntil(async () => {
      for (const n of cluster!.nodes) expect((await requestJson<NodeInfoDto>(`${n.url}/v1/node`)).body.members.filter((m) => m.status === 'up')).toHaveLength(5);
    });
  }, 90_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  function owners(key: string): ShoalProcess[] {
    const byId = new Map(cluster!.nodes.map((n) => [ids.get(n)!, n]));
    return expectedOwners(key, [...byId.keys()], 3).map((id) => byId.get(id)!);
  }

  /** A key for which `want` holds (tried over k-0, k-1, …). */
  function keyWhere(prefix: string, want: (owners: ShoalProcess[]) => boolean): string {
    for (let i = 0; i < 10_000; i++) {
      const key = `${prefix}-${i}`;
      if (want(owners(key))) return key;
    }
    throw new Error('no such key');
  }

  async function expectEverywhere(key: string, status: number, text?: string): Promise<void> {
    for (const n of cluster!.nodes) {
      const r = await getFile(n, key);
      expect({ node: n.name, status: r.status }).toEqual({ node: n.name, status });
      if (text !== undefined) expect(r.body.toString('utf8')).toBe(text);
    }
  }

  /** Every owner's own copy (GET /v1/files?local=true) ends up at `text`'s version — or gone, for a delete. */
  async function expectOwnersConverge(key: string, version: string, deleted: boolean): Promise<void> {
    await pollUntil(async () => {
      for (const o of owners(key)) {
        const { body } = await requestJson<{ items: { key: string; version: string }[] }>(`${o.url}/v1/files?local=true&prefix=${encodeURIComponent(key)}`);
        const mine = body.items.find((i) => i.key === key);
        if (deleted) expect(mine).toBeUndefined();
        else expect(mine?.version).toBe(version);
      }
    }, { timeoutMs: 15_000, message: `the owners of ${key} did not converge` });
  }

  // First: before any other test the slow node's clock has observed none of the fast node's versions.
  it('a put through the fast node, then a delete through the slow node: the file stays deleted everywhere', withLogs(() => cluster, async () => {
    const key = keyWhere('put-fast-delete-slow', () => true);
    expect((await putFile(fast, key, 'doomed', 'text/plain')).status).toBe(201);
    expect(await deleteFile(slow, key)).toBe(204);
    await expectEverywhere(key, 404);
    await expectOwnersConverge(key, '', true);
  }));

  it('a write through the fast node, then one through a non-owner: the later write wins everywhere', withLogs(() => cluster, async () => {
    const key = keyWhere('fast-then-nonowner', (o) => o.includes(fast) && normal.some((n) => !o.includes(n)));
    const coordinator = normal.find((n) => !owners(key).includes(n))!;
    const first = await putFile(fast, key, 'first', 'text/plain');
    expect(first.status).toBe(201);
    const second = await putFile(coordinator, key, 'second', 'text/plain');
    expect(second.status).toBe(201);
    expect(second.body.replicas).toBeGreaterThanOrEqual(2);
    expect(second.body.version > first.body.version).toBe(true);
    await expectEverywhere(key, 200, 'second');
    await expectOwnersConverge(key, second.body.version, false);
    // The owners accepted the fast node's version from an hour ahead (it must not be lost) but counted it.
    const owner = owners(key).find((o) => o !== fast)!;
    const metrics = await (await fetch(`${owner.url}/metrics`)).text();
    expect(Number(/^shoal_future_versions_total (\d+)/m.exec(metrics)?.[1] ?? 0)).toBeGreaterThan(0);
  }));

  it('a write through the fast node, then one through the slow node: the later write wins everywhere', withLogs(() => cluster, async () => {
    const key = keyWhere('fast-then-slow', () => true);
    expect((await putFile(fast, key, 'first', 'text/plain')).status).toBe(201);
    const second = await putFile(slow, key, 'second', 'text/plain');
    expect(second.status).toBe(201);
    await expectEverywhere(key, 200, 'second');
    await expectOwnersConverge(key, second.body.version, false);
  }));

  it('a write through the slow node, then one through the fast node, then one through the slow node again', withLogs(() => cluster, async () => {
    const key = keyWhere('slow-fast-slow', (o) => !o.includes(slow));
    for (const [node, text] of [[slow, 'one'], [fast, 'two'], [slow, 'three']] as const) expect((await putFile(node, key, text, 'text/plain')).status).toBe(201);
    await expectEverywhere(key, 200, 'three');
  }));
});
