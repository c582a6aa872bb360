import { execFile } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { ClusterSummaryDto, MembershipDto, NodeRecordDto, NodeStatus } from '../../src/common/protocol/membership.dto.js';
import { livenessOf } from '../../src/registry/membership/liveness.js';
import { getJson, type JsonResponse, requestJson } from '../support/http.js';
import { pollUntil, sleep } from '../support/poll-until.js';
import { REPO_ROOT, type ShoalProcess } from '../support/processes.js';
import { type Cluster, startCluster } from '../support/start-cluster.js';
import { nodeInfo, putFile } from '../support/files.js';
import { awaitStatus } from '../support/lifecycle.js';

/**
 * Membership with real processes (DESIGN.md §1–§2): registration and heartbeats, up → down → dead and back, stable
 * node ids, registry restarts (with and without its data), HA registries, a SIGTERM stop (not a leave), tokens and problem+json,
 * configuration errors, metrics, docs and logs.
 */

const NODE_TTL_MS = 1500;
const NODE_DEAD_MS = 4000;

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
}

async function listNodes(registry: ShoalProcess): Promise<NodeRecordDto[]> {
  const res = await getJson<MembershipDto>(`${registry.url}/v1/nodes`);
  expect(res.status).toBe(200);
  return res.body.nodes;
}

function record(nodes: NodeRecordDto[], id: string): NodeRecordDto {
  const found = nodes.find((n) => n.id === id);
  if (!found) throw new Error(`node ${id} is not listed: ${JSON.stringify(nodes)}`);
  return found;
}

/** Every error of every role: application/problem+json with type, title, status, detail and a stable code. */
function expectProblem(res: JsonResponse<unknown>, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json\b/);
  const body = res.body as Problem;
  expect(body).toEqual(expect.objectContaining({ status, code, type: expect.any(String), title: expect.any(String), detail: expect.any(String) }));
  expect(body.type.length).toBeGreaterThan(0);
  expect(body.title.length).toBeGreaterThan(0);
}

/** SIGCONT for each process still running; for `finally`, where a throw would hide the test's own failure. */
function resume(...procs: ShoalProcess[]): void {
  for (const p of procs) if (p.running) p.kill('SIGCONT');
}

/** The lines a process wrote itself (the helper adds `[test] …` lines of its own). */
function ownLogLines(proc: ShoalProcess): string[] {
  return proc.logs().split('\n').filter((l) => l.length > 0 && !l.startsWith('[test] '));
}

async function expectPrometheus(proc: ShoalProcess, gauge: string): Promise<string> {
  expect((await requestJson(`${proc.url}/health/ready`)).status).toBe(200);
  expect((await requestJson(`${proc.url}/no/such/route`)).status).toBe(404);
  // A request is observed when its response closes, which may come a moment after the client has it: poll.
  const { res, text } = await pollUntil(async () => {
    const r = await fetch(`${proc.url}/metrics`, { signal: AbortSignal.timeout(5000) });
    const t = await r.text();
    expect(t).toMatch(/^shoal_http_request_duration_seconds_count\{method="GET",route="[^"]*",status="404"\} /m);
    return { res: r, text: t };
  }, { timeoutMs: 3000, message: `${proc.name} did not count the 404` });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain\b/);
  expect(text).toMatch(/^# HELP shoal_http_request_duration_seconds /m);
  expect(text).toMatch(/^# TYPE shoal_http_request_duration_seconds histogram$/m);
  expect(text).toMatch(/^shoal_http_request_duration_seconds_bucket\{.*\} \d+$/m);
  // Labelled by route template; a request no route matched is `unmatched`, never a middleware's catch-all pattern.
  expect(text).toMatch(/^shoal_http_request_duration_seconds_count\{method="GET",route="\/health\/ready",status="200"\} [1-9]\d*$/m);
  expect(text).toMatch(/^shoal_http_request_duration_seconds_count\{method="GET",route="unmatched",status="404"\} [1-9]\d*$/m);
  expect(text).not.toMatch(/route="(\{?\/)?\*/);
  expect(text).toMatch(new RegExp(`^# TYPE ${gauge} gauge$`, 'm'));
  // Every non-comment line is `name{labels} value` (Prometheus text exposition format).
  for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) {
    expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? ([-+0-9.eE]+|NaN|[+-]Inf)$/);
  }
  return text;
}

async function expectDocs(proc: ShoalProcess, path: string): Promise<void> {
  const html = await fetch(`${proc.url}/docs`, { signal: AbortSignal.timeout(5000) });
  expect(html.status).toBe(200);
  expect(html.headers.get('content-type')).toMatch(/^text\/html\b/);
  expect(await html.text()).toMatch(/swagger-ui/i);
  const json = await getJson<{ openapi: string; info: { title: string }; paths: Record<string, unknown> }>(`${proc.url}/docs-json`);
  expect(json.status).toBe(200);
  expect(json.body.openapi).toMatch(/^3\./);
  expect(json.body.info.title).toEqual(expect.any(String));
  expect(Object.keys(json.body.paths)).toContain(path);
}

/**
 * The configuration runs start with the first cluster and the HA cluster as soon as the first cluster is up, while
 * its tests mostly wait on timers: that keeps the whole file well under a minute. Each describe awaits its own, and
 * the last afterAll stops the HA cluster whatever ran.
 */
let haCluster: Promise<Cluster> | undefined;
let configRuns: Promise<MainRun[]> | undefined;

function startHaCluster(): Promise<Cluster> {
  if (!haCluster) {
    haCluster = startCluster({ nodes: 2, registries: 2, registryEnv: { NODE_TTL_MS: String(NODE_TTL_MS) } });
    haCluster.catch(() => undefined); // reported where it is awaited, not as an unhandled rejection
  }
  return haCluster;
}

interface MainRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Bad configurations: [what, environment, the variable the one-line message must name]. */
const CONFIG_CASES: [string, Record<string, string>, string][] = [
  ['ROLE=node without REGISTRY_URL', { ROLE: 'node', CLUSTER_TOKEN: 't' }, 'REGISTRY_URL'],
  ['PORT=abc', { ROLE: 'registry', CLUSTER_TOKEN: 't', PORT: 'abc' }, 'PORT'],
  ['no ROLE', { CLUSTER_TOKEN: 't' }, 'ROLE'],
];

function runMain(env: Record<string, string>): Promise<MainRun> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [path.join(REPO_ROOT, 'dist', 'main.js')],
      // Generous: on a loaded machine loading the modules alone may take seconds; the test's own timeout bounds it.
      { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 40_000 },
      (_err, stdout, stderr) => resolve({ code: child.exitCode, signal: child.signalCode, stdout, stderr }),
    );
  });
}

/** The three runs side by side: each spends its ~2 s loading modules before it reads the environment. */
function runConfigCases(): Promise<MainRun[]> {
  configRuns ??= Promise.all(
    CONFIG_CASES.map(([, env]) => runMain({ HOST: '127.0.0.1', DATA_DIR: '/nonexistent/shoal-never-created', ...env })),
  );
  return configRuns;
}

afterAll(async () => {
  await haCluster?.then((c) => c.stop(), () => undefined);
});

describe('membership with one registry and two nodes', () => {
  let cluster: Cluster;
  let registry: ShoalProcess;
  let node1: ShoalProcess;
  let node2: ShoalProcess;
  let id1: string;
  let id2: string;

  beforeAll(async () => {
    void runConfigCases(); // short-lived: they exit once the modules are loaded
    cluster = await startCluster({
      nodes: 2,
      // Debug logs, so that every authenticated request (heartbeats included) is logged: none may show the token.
      env: { LOG_LEVEL: 'debug' },
      registryEnv: { NODE_TTL_MS: String(NODE_TTL_MS), NODE_DEAD_MS: String(NODE_DEAD_MS) },
    });
    registry = cluster.registry;
    [node1, node2] = cluster.nodes;
    id1 = (await nodeInfo(node1)).id;
    id2 = (await nodeInfo(node2)).id;
    // While the tests below mostly wait on timers; done before the restarts they could slow down on a busy machine.
    void startHaCluster();
  }, 40_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  /** Prints the processes' output when a test fails, which a bare assertion would not explain. */
  function dump(): string {
    return [registry, node1, node2].map((p) => `--- ${p.name}\n${p.logs().split('\n').slice(-30).join('\n')}`).join('\n');
  }

  it('registers both nodes: up in GET /v1/nodes with advancing heartbeats, counted by GET /v1/cluster, seen by each node', async () => {
    const first = await listNodes(registry);
    expect(first.map((n) => n.id).sort()).toEqual([id1, id2].sort());
    for (const [id, node] of [[id1, node1], [id2, node2]] as const) {
      const n = record(first, id);
      expect(n).toEqual(expect.objectContaining({ url: node.url, status: 'up' }));
      expect(Date.parse(n.lastHeartbeatAt)).toBeGreaterThanOrEqual(Date.parse(n.registeredAt));
    }
    await pollUntil(
      async () => {
        const now = await listNodes(registry);
        for (const id of [id1, id2]) {
          expect(Date.parse(record(now, id).lastHeartbeatAt)).toBeGreaterThan(Date.parse(record(first, id).lastHeartbeatAt));
          expect(record(now, id).status).toBe('up');
        }
      },
      { timeoutMs: 5000, message: 'lastHeartbeatAt did not advance' },
    );

    const summary = await getJson<ClusterSummaryDto>(`${registry.url}/v1/cluster`);
    expect(summary.status).toBe(200);
    expect(summary.body.nodes).toEqual({ up: 2, down: 0, dead: 0, stopped: 0, leaving: 0, left: 0 });
    expect(summary.body.epoch).toBeGreaterThan(0);

    for (const node of [node1, node2]) {
      const info = await pollUntil(async () => {
        const i = await nodeInfo(node);
        expect(i.members.map((m) => [m.id, m.url, m.status]).sort()).toEqual(
          [[id1, node1.url, 'up'], [id2, node2.url, 'up']].sort(),
        );
        return i;
      }, { message: `${node.name} does not see both members up` });
      expect(info.state).toBe('ready');
      expect(info.registries).toEqual([expect.objectContaining({ url: registry.url, registered: true })]);
      expect(info.registries[0].lastError).toBeUndefined();
    }
  });

  it('answers 401/404/409 as problem+json with stable codes', async () => {
    const token = cluster.token;
    const registration = { id: 'intruder', url: 'http://127.0.0.1:9', capacityBytes: 1000, freeBytes: 1000, partitionBits: 10 };
    const beat = { freeBytes: 1, files: 0 };

    // No token, then a wrong one: 401 UNAUTHORIZED, and nothing registered or removed.
    for (const auth of [undefined, 'not-the-token']) {
      expectProblem(await requestJson(`${registry.url}/v1/nodes`, { method: 'POST', json: registration, token: auth }), 401, 'UNAUTHORIZED');
      expectProblem(await requestJson(`${registry.url}/v1/nodes/${id1}/heartbeat`, { method: 'PUT', json: beat, token: auth }), 401, 'UNAUTHORIZED');
      expectProblem(await requestJson(`${registry.url}/v1/nodes/x`, { method: 'DELETE', token: auth }), 401, 'UNAUTHORIZED');
      expectProblem(await requestJson(`${registry.url}/v1/nodes/${id1}`, { method: 'DELETE', token: auth }), 401, 'UNAUTHORIZED');
      expectProblem(await requestJson(`${node1.url}/internal/versions`, { method: 'POST', json: { keys: ['a'] }, token: auth }), 401, 'UNAUTHORIZED');
    }
    expect((await listNodes(registry)).map((n) => n.id).sort()).toEqual([id1, id2].sort());

    // The same internal route with the token works (so the 401 above was about the token, not the route).
    const versions = await requestJson<{ entries: unknown[] }>(`${node1.url}/internal/versions`, { method: 'POST', json: { keys: ['a'] }, token });
    expect([200, 201]).toContain(versions.status); // a POST: Nest answers 201 unless told otherwise
    expect(versions.body.entries).toEqual([null]);

    // A heartbeat for an id the registry does not know: 404 NODE_NOT_FOUND (the node would register again).
    expectProblem(await requestJson(`${registry.url}/v1/nodes/ghost-node/heartbeat`, { method: 'PUT', json: beat, token }), 404, 'NODE_NOT_FOUND');
    expectProblem(await requestJson(`${registry.url}/v1/nodes/ghost-node`, { method: 'DELETE', token }), 404, 'NODE_NOT_FOUND');
    expectProblem(await requestJson(`${registry.url}/v1/nodes/ghost-node/decommission`, { method: 'POST', token }), 404, 'NODE_NOT_FOUND');
    // Forgetting a node that is up is refused: it may hold the only copies of some files (decommission it first).
    expectProblem(await requestJson(`${registry.url}/v1/nodes/${id1}`, { method: 'DELETE', token }), 409, 'NODE_HOLDS_DATA');
    // Cancelling a decommission that was never started: 409.
    expectProblem(await requestJson(`${registry.url}/v1/nodes/${id1}/decommission`, { method: 'DELETE', token }), 409, 'CONFLICT');

    // A node with another PARTITION_BITS than the cluster's: 409, and it is not listed.
    const mismatch = await requestJson<Problem>(`${registry.url}/v1/nodes`, { method: 'POST', json: { ...registration, partitionBits: 7 }, token });
    expectProblem(mismatch, 409, 'PARTITION_BITS_MISMATCH');
    expect(mismatch.body.detail).toMatch(/7/);
    const after = await getJson<MembershipDto>(`${registry.url}/v1/nodes`);
    expect(after.body.partitionBits).toBe(10);
    expect(after.body.nodes.map((n) => n.id)).not.toContain('intruder');

    // Validation and unknown routes are problem documents too.
    expectProblem(await requestJson(`${registry.url}/v1/nodes`, { method: 'POST', json: { id: 'bad id!' }, token }), 400, 'VALIDATION_FAILED');
    expectProblem(await requestJson(`${registry.url}/v1/nowhere`), 404, 'ROUTE_NOT_FOUND');
    expectProblem(await requestJson(`${node1.url}/v1/nowhere`), 404, 'ROUTE_NOT_FOUND');
  });

  it('serves Prometheus /metrics, Swagger UI at /docs and OpenAPI 3 at /docs-json on both roles', async () => {
    const reg = await expectPrometheus(registry, 'shoal_registry_nodes');
    expect(reg).toMatch(/^shoal_registry_nodes\{status="up"\} 2$/m);
    expect(reg).toMatch(/^shoal_registry_nodes\{status="dead"\} 0$/m);
    const node = await expectPrometheus(node1, 'shoal_node_members');
    expect(node).toMatch(/^shoal_node_members\{status="up"\} 2$/m);

    await expectDocs(registry, '/v1/nodes');
    await expectDocs(node1, '/v1/files/{key}');
  });

  it('logs JSON lines only, and never the cluster token (LOG_LEVEL=debug, authenticated calls made)', async () => {
    // A few authenticated calls of our own, on top of the nodes' heartbeats and the calls of the test above.
    await requestJson(`${registry.url}/v1/nodes/ghost-node/heartbeat`, { method: 'PUT', json: { freeBytes: 1, files: 0 }, token: cluster.token });
    await requestJson(`${node1.url}/internal/versions`, { method: 'POST', json: { keys: ['k'] }, token: cluster.token });
    await requestJson(`${registry.url}/v1/nodes`, { method: 'POST', json: { id: 'x', url: 'http://127.0.0.1:9', capacityBytes: 1, freeBytes: 1, partitionBits: 3 }, token: cluster.token });
    await sleep(300); // let the last lines reach the pipe

    // Request lines of 2xx answers are logged at debug, so what we check includes authenticated requests: the nodes'
    // heartbeats on the registry, our call of an internal route on the node.
    for (const [proc, route] of [[registry, '/heartbeat'], [node1, '/internal/versions']] as const) {
      const lines = ownLogLines(proc);
      if (!lines.some((l) => l.includes(route))) throw new Error(`${proc.name} logged no request to ${route}:\n${lines.join('\n')}`);
      for (const line of lines) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(line);
        } catch {
          throw new Error(`${proc.name} wrote a line that is not JSON: ${line}`);
        }
        expect(parsed).toEqual(expect.objectContaining({ level: expect.any(Number), time: expect.any(Number) }));
        if (line.includes(cluster.token)) throw new Error(`${proc.name} logged the cluster token: ${line}`);
      }
    }
  });

  it('judges a SIGSTOPped node down after NODE_TTL_MS and up again after SIGCONT', async () => {
    node2.kill('SIGSTOP');
    const stoppedAt = Date.now();
    try {
      const down = await awaitStatus(registry, id2, 'down', NODE_TTL_MS + 5000);
      // Down only once it has been silent for NODE_TTL_MS (its last heartbeat was at most one interval before the stop).
      expect(Date.now() - Date.parse(down.lastHeartbeatAt)).toBeGreaterThanOrEqual(NODE_TTL_MS);
      expect(Date.now() - stoppedAt).toBeLessThan(NODE_DEAD_MS);
      expect(record(await listNodes(registry), id1).status).toBe('up');
      const counts = await getJson<ClusterSummaryDto>(`${registry.url}/v1/cluster`);
      expect(counts.body.nodes).toEqual({ up: 1, down: 1, dead: 0, stopped: 0, leaving: 0, left: 0 });
    } finally {
      resume(node2);
    }
    await awaitStatus(registry, id2, 'up', 5000);
  }, 20_000);

  it('judges a node stopped longer than NODE_DEAD_MS dead, and the other node sees it dead', async () => {
    node2.kill('SIGSTOP');
    try {
      const dead = await awaitStatus(registry, id2, 'dead', NODE_DEAD_MS + 5000);
      expect(Date.now() - Date.parse(dead.lastHeartbeatAt)).toBeGreaterThanOrEqual(NODE_DEAD_MS);
      await pollUntil(
        async () => {
          const info = await nodeInfo(node1);
          expect(info.members.find((m) => m.id === id2)?.status).toBe('dead');
          expect(info.members.find((m) => m.id === id1)?.status).toBe('up');
        },
        { timeoutMs: 5000, message: `${node1.name} does not see ${id2} dead` },
      );
      expect((await getJson<ClusterSummaryDto>(`${registry.url}/v1/cluster`)).body.nodes).toEqual({ up: 1, down: 0, dead: 1, stopped: 0, leaving: 0, left: 0 });
    } finally {
      resume(node2);
    }
    // A dead node that heartbeats again is up again, for the registry and for its peer.
    await awaitStatus(registry, id2, 'up', 5000);
    await pollUntil(async () => expect((await nodeInfo(node1)).members.find((m) => m.id === id2)?.status).toBe('up'), {
      timeoutMs: 5000,
      message: `${node1.name} does not see ${id2} up again`,
    });
  }, 25_000);

  it('keeps a generated node id across a restart on the same DATA_DIR (DATA_DIR/node-id)', async () => {
    expect(node1.env.NODE_ID).toBeUndefined();
    expect(await readFile(path.join(node1.dataDir, 'node-id'), 'utf8')).toBe(`${id1}\n`);
    await node1.restart();
    expect((await nodeInfo(node1)).id).toBe(id1);
    expect(await readFile(path.join(node1.dataDir, 'node-id'), 'utf8')).toBe(`${id1}\n`);
    await awaitStatus(registry, id1, 'up', 10_000);
    expect((await listNodes(registry)).map((n) => n.id).sort()).toEqual([id1, id2].sort()); // no second identity
  }, 20_000);

  it('lists every node right after a SIGKILLed registry restarts on its data dir, judged by the persisted heartbeat', async () => {
    await cluster.waitForMembership(10_000);
    // Freeze the nodes so that no heartbeat reaches the restarted registry before we look at it.
    node1.kill('SIGSTOP');
    node2.kill('SIGSTOP');
    let before: NodeRecordDto[] = [];
    try {
      await sleep(2000); // the registry writes heartbeats coalesced (≤ 1 s late): let the last one reach the disk
      before = await listNodes(registry);
      registry.kill('SIGKILL');
      expect(await registry.waitExit()).toEqual({ code: null, signal: 'SIGKILL' });
      await registry.restart();

      const t0 = Date.now();
      const after = await listNodes(registry);
      const t1 = Date.now();
      expect(after.map((n) => n.id).sort()).toEqual([id1, id2].sort());
      for (const id of [id1, id2]) {
        const n = record(after, id);
        expect(n.url).toBe(record(before, id).url);
        // Nothing newer than before the kill (the nodes are frozen), and at most the coalescing delay older (normally
        // equal: the last write had 2 s to happen).
        const lost = Date.parse(record(before, id).lastHeartbeatAt) - Date.parse(n.lastHeartbeatAt);
        expect(lost).toBeGreaterThanOrEqual(0);
        expect(lost).toBeLessThan(1500);
        const hb = Date.parse(n.lastHeartbeatAt);
        const judged = [livenessOf(hb, t0, NODE_TTL_MS, NODE_DEAD_MS), livenessOf(hb, t1, NODE_TTL_MS, NODE_DEAD_MS)];
        expect(judged).toContain(n.status);
      }
    } finally {
      resume(node1, node2);
    }
    // Their next heartbeats (no new registration needed) make them up again.
    await pollUntil(
      async () => {
        const now = await listNodes(registry);
        for (const id of [id1, id2]) {
          expect(record(now, id).status).toBe('up');
          expect(Date.parse(record(now, id).lastHeartbeatAt)).toBeGreaterThan(Date.parse(record(before, id).lastHeartbeatAt));
          expect(record(now, id).registeredAt).toBe(record(before, id).registeredAt);
        }
      },
      { timeoutMs: 10_000, message: () => `the nodes are not up again after the registry restart\n${dump()}` },
    );
  }, 30_000);

  it('makes a node re-register after a 404 on heartbeat when its registry restarted on an empty data dir', async () => {
    registry.kill('SIGKILL');
    await registry.waitExit();
    for (const entry of await readdir(registry.dataDir)) await rm(path.join(registry.dataDir, entry), { recursive: true, force: true });
    const restartedAt = Date.now();
    await registry.restart();

    await pollUntil(
      async () => {
        const now = await getJson<MembershipDto>(`${registry.url}/v1/nodes`);
        expect(now.body.nodes.map((n) => [n.id, n.url, n.status]).sort()).toEqual([[id1, node1.url, 'up'], [id2, node2.url, 'up']].sort());
        for (const n of now.body.nodes) expect(Date.parse(n.registeredAt)).toBeGreaterThanOrEqual(restartedAt - 5); // a new registration
        expect(now.body.partitionBits).toBe(10);
      },
      { timeoutMs: 10_000, message: () => `the nodes did not register again\n${dump()}` },
    );
    for (const node of [node1, node2]) {
      await pollUntil(async () => {
        const info = await nodeInfo(node);
        expect(info.registries).toEqual([expect.objectContaining({ url: registry.url, registered: true })]);
        expect(info.registries[0].lastError).toBeUndefined();
      }, { timeoutMs: 5000, message: `${node.name} does not report its registry as registered` });
    }
  }, 30_000);

  it('marks a node stopped with SIGTERM `stopped` at once, keeps it listed (DELETE refused), and up again after a restart', async () => {
    expect(record(await listNodes(registry), id2).status).toBe('up');
    node2.kill('SIGTERM');
    const exit = await node2.waitExit();
    // Nest re-raises SIGTERM after its shutdown hooks; a plain exit(0) is fine too.
    expect(exit.signal === 'SIGTERM' || exit.code === 0).toBe(true);
    // Stopped at once (a crashed node would stay up until NODE_TTL_MS): it said so before exiting. A stop is not a
    // leave: it keeps its place, and the other node sees it stopped (it hints for it) rather than gone.
    await awaitStatus(registry, id2, 'stopped', 1000);
    await pollUntil(async () => expect((await nodeInfo(node1)).members.find((m) => m.id === id2)?.status).toBe('stopped'), {
      timeoutMs: 3000,
      message: () => `${node1.name} does not see ${id2} stopped\n${dump()}`,
    });
    // Not judged down after the TTL either: the registry knows it stopped on purpose; no heartbeat in flight revived it.
    await sleep(NODE_TTL_MS + 300);
    expect(record(await listNodes(registry), id2).status).toBe('stopped');
    expect((await getJson<ClusterSummaryDto>(`${registry.url}/v1/cluster`)).body.nodes).toEqual({ up: 1, down: 0, dead: 0, stopped: 1, leaving: 0, left: 0 });
    // Forgetting it is refused: it may hold the only copies of some files.
    expectProblem(await requestJson(`${registry.url}/v1/nodes/${id2}`, { method: 'DELETE', token: cluster.token }), 409, 'NODE_HOLDS_DATA');
    // Back on the same data dir: the same id, up again.
    await node2.restart();
    await awaitStatus(registry, id2, 'up', 10_000);
    expect((await nodeInfo(node2)).id).toBe(id2);
  }, 30_000);
});

describe('membership with two registries (HA)', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startHaCluster();
  }, 40_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  it('registers every node with both registries, and keeps serving with one registry killed', async () => {
    const [reg1, reg2] = cluster.registries;
    const ids = await Promise.all(cluster.nodes.map(async (n) => (await nodeInfo(n)).id));
    for (const reg of [reg1, reg2]) {
      const nodes = await listNodes(reg);
      expect(nodes.map((n) => [n.id, n.status]).sort()).toEqual(ids.map((id) => [id, 'up']).sort());
    }
    for (const node of cluster.nodes) {
      const info = await nodeInfo(node);
      expect(info.registries.map((r) => [r.url, r.registered]).sort()).toEqual([[reg1.url, true], [reg2.url, true]].sort());
    }

    reg2.kill('SIGKILL');
    await reg2.waitExit();
    const killedAt = Date.now();
    const before = await listNodes(reg1);

    // Past NODE_TTL_MS and more, the nodes still serve and the surviving registry still sees them up.
    let round = 0;
    while (Date.now() - killedAt < 2 * NODE_TTL_MS) {
      round++;
      for (const [i, node] of cluster.nodes.entries()) {
        const ready = await requestJson(`${node.url}/health/ready`);
        expect(ready.status).toBe(200);
        const put = await putFile(node, `ha/round-${round}-via-${i}.txt`, `written in round ${round} through ${node.name}`, 'text/plain');
        expect(put.status).toBe(201);
        expect(put.body.replicas).toBe(2);
      }
      expect((await listNodes(reg1)).map((n) => n.status)).toEqual(['up', 'up']);
      await sleep(250);
    }
    const got = await fetch(`${cluster.nodes[1].url}/v1/files/ha/round-1-via-0.txt`, { signal: AbortSignal.timeout(5000) });
    expect(got.status).toBe(200);
    expect(await got.text()).toBe(`written in round 1 through ${cluster.nodes[0].name}`);

    const after = await listNodes(reg1);
    for (const id of ids) expect(Date.parse(record(after, id).lastHeartbeatAt)).toBeGreaterThan(Date.parse(record(before, id).lastHeartbeatAt));
    for (const node of cluster.nodes) {
      const info = await nodeInfo(node);
      expect(info.members.map((m) => m.status)).toEqual(['up', 'up']);
      const byUrl = Object.fromEntries(info.registries.map((r) => [r.url, r]));
      expect(byUrl[reg1.url].lastError).toBeUndefined();
      expect(byUrl[reg2.url].lastError).toEqual(expect.any(String)); // it knows that one is unreachable
    }
  }, 30_000);
});

describe('configuration errors', () => {
  it('exits 1 with one line on stderr naming the variable (no REGISTRY_URL, PORT=abc, no ROLE)', async () => {
    const results = await runConfigCases();
    for (const [i, [name, , variable]] of CONFIG_CASES.entries()) {
      const { code, signal, stdout, stderr } = results[i];
      const lines = stderr.split('\n').filter((l) => l.length > 0);
      const what = `${name}: exit ${signal ?? code}, stderr ${JSON.stringify(stderr)}, stdout ${JSON.stringify(stdout)}`;
      expect({ what, code, lines: lines.length }).toEqual({ what, code: 1, lines: 1 });
      expect(lines[0]).toMatch(new RegExp(`\\b${variable}\\b`));
    }
  }, 45_000);
});
