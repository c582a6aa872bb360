import { createHash, randomBytes } from 'node:crypto';
import { type Cluster, startCluster, startNode, startRegistry, stopAndRemove } from '../support/start-cluster.js';
import { pollUntil } from '../support/poll-until.js';
import type { ShoalProcess } from '../support/processes.js';
import { type LiveResponse, OpenApiValidator } from './openapi-validator.js';

/**
 * Every route of both roles, answered by real processes over real HTTP, checked against the committed
 * openapi/*.json: status declared, body valid against its schema with no undeclared field, declared headers present
 * and well-typed, no undeclared header. The cases are listed per operation; an operation of the document that no case
 * reaches fails the suite, so a new route needs a case here (a new field of a DTO is checked without one).
 */
const RW = 'contract-rw-token';
const RO = 'contract-ro-token';
const MAX_OBJECT_BYTES = 64 * 1024;

const node = OpenApiValidator.load('openapi/node.json');
const registry = OpenApiValidator.load('openapi/registry.json');

interface Call {
  method?: string;
  token?: string;
  headers?: Record<string, string>;
  body?: NonNullable<RequestInit['body']>;
  json?: unknown;
}

/** Sends one request and checks the answer against `doc`'s `operation` (e.g. `GET /v1/files/{key}`). */
async function call(doc: OpenApiValidator, operation: string, url: string, init: Call = {}): Promise<LiveResponse & { json: () => any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const headers: Record<string, string> = { ...init.headers };
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  if (init.json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, {
    method: init.method ?? operation.split(' ')[0],
    headers,
    body: init.json !== undefined ? JSON.stringify(init.json) : init.body,
    signal: AbortSignal.timeout(15_000),
  });
  const live: LiveResponse = { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
  doc.check(operation, live);
  return { ...live, json: () => JSON.parse(live.body.toString('utf8')) };
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const enc = (key: string) => encodeURIComponent(key);

describe('live answers match the committed OpenAPI documents', () => {
  let cluster: Cluster;
  let n1: string;
  let n2: string;
  const extra: ShoalProcess[] = [];

  beforeAll(async () => {
    cluster = await startCluster({ nodes: 3, nodeEnv: { API_TOKENS: RW, API_READ_TOKENS: RO, MAX_OBJECT_BYTES: String(MAX_OBJECT_BYTES) } });
    [n1, n2] = cluster.nodes.map((n) => n.url);
  }, 120_000);

  afterAll(async () => {
    await stopAndRemove(extra);
    await cluster?.stop();
  }, 30_000);

  describe('node', () => {
    const data = randomBytes(20_000);
    const key = 'contract/a b/ü%?#.bin';

    it('PUT /v1/files/{key}: 201, 400 (checksum, key, header), 401, 403, 413', async () => {
      const put = await call(node, 'PUT /v1/files/{key}', `${n1}/v1/files/${enc(key)}`, { token: RW, body: data, headers: { 'content-type': 'image/png', 'x-content-sha256': sha256(data) } });
      expect(put.status).toBe(201);
      expect(put.json()).toMatchObject({ key, size: data.length, sha256: sha256(data), contentType: 'image/png' });
      expect((await call(node, 'PUT /v1/files/{key}', `${n1}/v1/files/x`, { token: RW, body: data, headers: { 'x-content-sha256': '0'.repeat(64) } })).json().code).toBe('CHECKSUM_MISMATCH');
      expect((await call(node, 'PUT /v1/files/{key}', `${n1}/v1/files/x`, { token: RW, body: data, headers: { 'x-content-sha256': 'nothex' } })).json().code).toBe('BAD_REQUEST');
      expect((await call(node, 'PUT /v1/files/{key}', `${n1}/v1/files/a%01b`, { token: RW, body: 'x' })).json().code).toBe('INVALID_KEY');
      expect((await call(node, 'PUT /v1/files/{key}', `${n1}/v1/files/x`, { body: 'x' })).status).toBe(401);
      expect((await call(node, 'PUT /v1/files/{key}', `${n1}/v1/files/x`, { token: 'wrong', body: 'x' })).status).toBe(401);
      expect((await call(node, 'PUT /v1/files/{key}', `${n1}/v1/files/x`, { token: RO, body: 'x' })).status).toBe(403);
      expect((await call(node, 'PUT /v1/files/{key}', `${n1}/v1/files/big`, { token: RW, body: randomBytes(MAX_OBJECT_BYTES + 1) })).json().code).toBe('PAYLOAD_TOO_LARGE');
    });

    it('POST /v1/files: 201, 400 (malformed multipart), 401, 403', async () => {
      const form = new FormData();
      form.append('key', 'contract/form.txt');
      form.append('file', new Blob(['from a form'], { type: 'text/plain' }), 'form.txt');
      const post = await call(node, 'POST /v1/files', `${n2}/v1/files`, { token: RW, body: form });
      expect(post.status).toBe(201);
      expect(post.json()).toMatchObject({ key: 'contract/form.txt', size: 11, contentType: 'text/plain' });
      expect((await call(node, 'POST /v1/files', `${n2}/v1/files`, { token: RW, body: 'not a form', headers: { 'content-type': 'multipart/form-data; boundary=zz' } })).json().code).toBe('MALFORMED_MULTIPART');
      expect((await call(node, 'POST /v1/files', `${n2}/v1/files`, { body: new FormData() })).status).toBe(401);
      expect((await call(node, 'POST /v1/files', `${n2}/v1/files`, { token: RO, body: form })).status).toBe(403);
    });

    it('GET /v1/files: 200 with a cursor, local listing, 400 (validation, cursor), 401', async () => {
      const first = await call(node, 'GET /v1/files', `${n2}/v1/files?prefix=contract/&limit=1`, { token: RO });
      expect(first.json().items).toHaveLength(1);
      const next = await call(node, 'GET /v1/files', `${n2}/v1/files?prefix=contract/&limit=1&cursor=${first.json().nextCursor}`, { token: RO });
      expect(next.json().items[0].key).not.toBe(first.json().items[0].key);
      await call(node, 'GET /v1/files', `${n1}/v1/files?local=true`, { token: RO });
      expect((await call(node, 'GET /v1/files', `${n1}/v1/files?limit=0`, { token: RO })).json().code).toBe('VALIDATION_FAILED');
      expect((await call(node, 'GET /v1/files', `${n1}/v1/files?limit=1.5`, { token: RO })).json().code).toBe('VALIDATION_FAILED');
      expect((await call(node, 'GET /v1/files', `${n1}/v1/files?cursor=garbage`, { token: RO })).json().code).toBe('BAD_REQUEST');
      expect((await call(node, 'GET /v1/files', `${n1}/v1/files`)).status).toBe(401);
    });

    it('GET /v1/files/{key}: 200 through another node, 206, 304, 400, 401, 404, 416', async () => {
      const url = `${cluster.nodes[2].url}/v1/files/${enc(key)}`;
      const get = await call(node, 'GET /v1/files/{key}', url, { token: RO });
      expect([get.status, sha256(get.body), get.headers.get('content-type'), get.headers.get('etag')]).toEqual([200, sha256(data), 'image/png', `"${sha256(data)}"`]);
      const part = await call(node, 'GET /v1/files/{key}', url, { token: RO, headers: { range: 'bytes=10-19' } });
      expect([part.status, part.body.equals(data.subarray(10, 20))]).toEqual([206, true]);
      expect((await call(node, 'GET /v1/files/{key}', url, { token: RO, headers: { 'if-none-match': `"${sha256(data)}"` } })).status).toBe(304);
      expect((await call(node, 'GET /v1/files/{key}', url, { token: RO, headers: { range: 'bytes=oops' } })).json().code).toBe('INVALID_RANGE');
      expect((await call(node, 'GET /v1/files/{key}', url, { token: RO, headers: { range: `bytes=${data.length}-` } })).status).toBe(416);
      expect((await call(node, 'GET /v1/files/{key}', `${n1}/v1/files/contract%2Fmissing`, { token: RO })).json().code).toBe('NOT_FOUND');
      expect((await call(node, 'GET /v1/files/{key}', `${n1}/v1/files/%E0%A4%A`, { token: RO })).json().code).toBe('INVALID_KEY');
      expect((await call(node, 'GET /v1/files/{key}', url)).status).toBe(401);
    });

    it('HEAD /v1/files/{key}: 200, 206, 304, 401, 404, 416 — headers only', async () => {
      const url = `${n2}/v1/files/${enc(key)}`;
      const head = await call(node, 'HEAD /v1/files/{key}', url, { token: RO });
      expect([head.status, head.headers.get('content-length'), head.headers.get('etag')]).toEqual([200, String(data.length), `"${sha256(data)}"`]);
      expect((await call(node, 'HEAD /v1/files/{key}', url, { token: RO, headers: { range: 'bytes=0-0' } })).status).toBe(206);
      expect((await call(node, 'HEAD /v1/files/{key}', url, { token: RO, headers: { 'if-none-match': '*' } })).status).toBe(304);
      expect((await call(node, 'HEAD /v1/files/{key}', url, { token: RO, headers: { range: `bytes=${data.length}-` } })).status).toBe(416);
      expect((await call(node, 'HEAD /v1/files/{key}', `${n2}/v1/files/nothing-here`, { token: RO })).status).toBe(404);
      expect((await call(node, 'HEAD /v1/files/{key}', url)).status).toBe(401);
    });

    it('DELETE /v1/files/{key}: 204, 401, 403, 404', async () => {
      const url = `${n1}/v1/files/contract%2Fform.txt`;
      expect((await call(node, 'DELETE /v1/files/{key}', url)).status).toBe(401);
      expect((await call(node, 'DELETE /v1/files/{key}', url, { token: RO })).status).toBe(403);
      expect((await call(node, 'DELETE /v1/files/{key}', url, { token: RW })).status).toBe(204);
      expect((await call(node, 'DELETE /v1/files/{key}', url, { token: RW })).json().code).toBe('NOT_FOUND');
    });

    it('GET /v1/node and /v1/node/quarantine: 200, 401', async () => {
      const info = await call(node, 'GET /v1/node', `${n1}/v1/node`);
      expect(info.json()).toMatchObject({ state: 'ready', members: expect.any(Array) });
      expect((await call(node, 'GET /v1/node/quarantine', `${n1}/v1/node/quarantine`, { token: RO })).json()).toEqual([]);
      expect((await call(node, 'GET /v1/node/quarantine', `${n1}/v1/node/quarantine`)).status).toBe(401);
    });

    it('health and metrics: 200; /health/ready 503 NOT_READY on a node that never reached a registry', async () => {
      await call(node, 'GET /health/live', `${n1}/health/live`);
      await call(node, 'GET /health/ready', `${n1}/health/ready`);
      await call(node, 'GET /metrics', `${n1}/metrics`);
      const lonely = await startNode({ token: cluster.token, registries: [{ url: 'http://127.0.0.1:9' }], name: 'lonely' });
      extra.push(lonely);
      const ready = await call(node, 'GET /health/ready', `${lonely.url}/health/ready`);
      expect([ready.status, ready.json().code, ready.json().details.membership.status]).toEqual([503, 'NOT_READY', 'down']);
    });
  });

  describe('registry', () => {
    let reg: string;
    let solo: string;

    beforeAll(async () => {
      reg = cluster.registry.url;
      // Writes go to a registry of their own: a made-up node in the cluster's registry would enter its placement.
      const own = await startRegistry({ token: cluster.token, name: 'contract-registry' });
      extra.push(own);
      solo = own.url;
    });

    const fake = { id: 'contract-node', url: 'http://127.0.0.1:9', zone: 'z1', capacityBytes: 1000, freeBytes: 500, partitionBits: 10 };

    it('POST /v1/nodes: 201, 400 (validation, malformed JSON), 401, 409', async () => {
      const created = await call(registry, 'POST /v1/nodes', `${solo}/v1/nodes`, { token: cluster.token, json: fake });
      expect([created.status, created.json().partitionBits]).toEqual([201, 10]);
      expect((await call(registry, 'POST /v1/nodes', `${solo}/v1/nodes`, { token: cluster.token, json: { ...fake, capacityBytes: 1.5 } })).json().code).toBe('VALIDATION_FAILED');
      expect((await call(registry, 'POST /v1/nodes', `${solo}/v1/nodes`, { token: cluster.token, body: '{', headers: { 'content-type': 'application/json' } })).status).toBe(400);
      expect((await call(registry, 'POST /v1/nodes', `${solo}/v1/nodes`, { json: fake })).status).toBe(401);
      expect((await call(registry, 'POST /v1/nodes', `${solo}/v1/nodes`, { token: cluster.token, json: { ...fake, id: 'other', partitionBits: 12 } })).json().code).toBe('PARTITION_BITS_MISMATCH');
    });

    it('PUT /v1/nodes/{id}/heartbeat: 200, 400, 401, 404', async () => {
      const hb = { freeBytes: 400, files: 3, usedBytes: 100 };
      expect((await call(registry, 'PUT /v1/nodes/{id}/heartbeat', `${solo}/v1/nodes/${fake.id}/heartbeat`, { token: cluster.token, json: hb })).json().nodes[0].files).toBe(3);
      expect((await call(registry, 'PUT /v1/nodes/{id}/heartbeat', `${solo}/v1/nodes/${fake.id}/heartbeat`, { token: cluster.token, json: { ...hb, extra: 1 } })).json().code).toBe('VALIDATION_FAILED');
      expect((await call(registry, 'PUT /v1/nodes/{id}/heartbeat', `${solo}/v1/nodes/${fake.id}/heartbeat`, { json: hb })).status).toBe(401);
      expect((await call(registry, 'PUT /v1/nodes/{id}/heartbeat', `${solo}/v1/nodes/unknown/heartbeat`, { token: cluster.token, json: hb })).json().code).toBe('NODE_NOT_FOUND');
    });

    it('GET /v1/nodes, /v1/cluster, / : 200 (cluster and own registry)', async () => {
      for (const url of [reg, solo]) {
        await call(registry, 'GET /v1/nodes', `${url}/v1/nodes`);
        await call(registry, 'GET /v1/cluster', `${url}/v1/cluster`);
        const page = await call(registry, 'GET /', `${url}/`);
        expect(page.body.toString()).toMatch(/<html/i);
      }
      expect((await call(registry, 'GET /v1/nodes', `${reg}/v1/nodes`)).json().nodes).toHaveLength(3);
    });

    it('stop, decommission, cancel, left, forget: POST /v1/nodes/{id}/stop, POST|DELETE …/decommission, DELETE /v1/nodes/{id} (200, 204, 401, 404, 409)', async () => {
      const t = { token: cluster.token };
      const at = (suffix = '') => `${solo}/v1/nodes/${fake.id}${suffix}`;
      expect((await call(registry, 'POST /v1/nodes/{id}/stop', at('/stop'))).status).toBe(401);
      expect((await call(registry, 'POST /v1/nodes/{id}/stop', `${solo}/v1/nodes/unknown/stop`, t)).json().code).toBe('NODE_NOT_FOUND');
      expect((await call(registry, 'POST /v1/nodes/{id}/stop', at('/stop'), t)).status).toBe(204);
      expect((await call(registry, 'DELETE /v1/nodes/{id}', at(), t)).json().code).toBe('NODE_HOLDS_DATA');
      expect((await call(registry, 'DELETE /v1/nodes/{id}/decommission', at('/decommission'), t)).json().code).toBe('CONFLICT');
      expect((await call(registry, 'POST /v1/nodes/{id}/decommission', at('/decommission'))).status).toBe(401);
      expect((await call(registry, 'POST /v1/nodes/{id}/decommission', `${solo}/v1/nodes/unknown/decommission`, t)).json().code).toBe('NODE_NOT_FOUND');
      expect((await call(registry, 'POST /v1/nodes/{id}/decommission', at('/decommission'), t)).json().status).toBe('leaving');
      expect((await call(registry, 'DELETE /v1/nodes/{id}/decommission', at('/decommission'), t)).json().decommission).toBeUndefined();
      await call(registry, 'POST /v1/nodes/{id}/decommission', at('/decommission'), t);
      // The leaving node reports its drain in heartbeats; nothing left unconfirmed makes it `left`.
      const drained = await call(registry, 'PUT /v1/nodes/{id}/heartbeat', at('/heartbeat'), { ...t, json: { freeBytes: 400, files: 0, partitionsLeft: 0, entriesLeft: 0, bytesLeft: 0 } });
      expect(drained.json().nodes.find((n: { id: string }) => n.id === fake.id).status).toBe('left');
      expect((await call(registry, 'POST /v1/nodes/{id}/decommission', at('/decommission'), t)).json().code).toBe('CONFLICT');
      expect((await call(registry, 'DELETE /v1/nodes/{id}', at())).status).toBe(401);
      expect((await call(registry, 'DELETE /v1/nodes/{id}', at(), t)).status).toBe(204);
      expect((await call(registry, 'DELETE /v1/nodes/{id}', at(), t)).json().code).toBe('NODE_NOT_FOUND');
    });

    it('health and metrics: 200', async () => {
      await call(registry, 'GET /health/live', `${reg}/health/live`);
      await call(registry, 'GET /health/ready', `${reg}/health/ready`);
      await call(registry, 'GET /metrics', `${reg}/metrics`);
    });
  });

  /** Driven by the documents: a route added later is swept too, without a case of its own. */
  it('every operation that declares the bearer scheme answers 401 problem+json without a token, as declared', async () => {
    const targets = [[node, n1], [registry, cluster.registry.url]] as const;
    let swept = 0;
    for (const [doc, base] of targets) {
      for (const operation of doc.operations()) {
        const [method, path] = operation.split(' ');
        const op = doc.doc.paths[path][method.toLowerCase()];
        if (!(op.security ?? doc.doc.security ?? []).some((s: Record<string, unknown>) => 'bearer' in s)) continue;
        const url = base + path.replace('{key}', 'contract%2Fsweep').replace('{id}', 'sweep-node');
        const res = await call(doc, operation, url, { method });
        expect([operation, res.status]).toEqual([operation, 401]);
        if (method !== 'HEAD') expect(res.json().code).toBe('UNAUTHORIZED');
        swept++;
      }
    }
    expect(swept).toBeGreaterThanOrEqual(10);
  });

  // Last: it stops two of the three nodes.
  it('503 INSUFFICIENT_REPLICAS with Retry-After when fewer than W owners are up (PUT, POST, DELETE, GET, HEAD)', async () => {
    // Killed, not stopped: a stopped node may leave the membership, and with one node left W would be 1.
    for (const n of cluster.nodes.slice(1)) n.kill('SIGKILL');
    await Promise.all(cluster.nodes.slice(1).map((n) => n.waitExit()));
    await pollUntil(async () => {
      const info = await call(node, 'GET /v1/node', `${n1}/v1/node`);
      return info.json().members.filter((m: { status: string }) => m.status === 'up').length === 1;
    }, { timeoutMs: 15_000, message: 'node 1 does not see the others down' });
    const put = await call(node, 'PUT /v1/files/{key}', `${n1}/v1/files/contract%2Flate`, { token: RW, body: 'late' });
    expect([put.status, put.json().code, put.headers.get('retry-after')]).toEqual([503, 'INSUFFICIENT_REPLICAS', expect.stringMatching(/^\d+$/)]);
    const form = new FormData();
    form.append('file', new Blob(['x']), 'late.txt');
    expect((await call(node, 'POST /v1/files', `${n1}/v1/files`, { token: RW, body: form })).status).toBe(503);
    expect((await call(node, 'DELETE /v1/files/{key}', `${n1}/v1/files/${enc('contract/a b/ü%?#.bin')}`, { token: RW })).status).toBe(503);
    expect((await call(node, 'GET /v1/files/{key}', `${n1}/v1/files/${enc('contract/a b/ü%?#.bin')}`, { token: RO })).status).toBe(503);
    expect((await call(node, 'HEAD /v1/files/{key}', `${n1}/v1/files/${enc('contract/a b/ü%?#.bin')}`, { token: RO })).status).toBe(503);
    // The listing skips owners that are down (the survivors hold a copy of every partition): still a valid 200.
    await call(node, 'GET /v1/files', `${n1}/v1/files`, { token: RO });
  }, 60_000);

  it('every operation of both documents was exercised, with a 2xx answer', () => {
    for (const [name, doc] of [['node', node], ['registry', registry]] as const) {
      const missing = doc.operations().filter((op) => ![...(doc.seen.get(op) ?? [])].some((s) => s >= 200 && s < 300));
      expect([name, missing]).toEqual([name, []]); // add a case for each to this file
    }
  });
});
