import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { loadConfig } from '../../src/config/app-config.js';
import { createApp } from '../../src/app.js';
import { DirectRoutes } from '../../src/common/http/direct-routes.js';

/**
 * The file routes are answered before Express (common/http/direct-routes.ts): over real HTTP they keep everything the
 * routed path gave — the guard's 401/403, problem documents from the one filter, the observer's route label — and what
 * they do not match exactly still reaches Express.
 */
describe('direct routes over HTTP', () => {
  let dir: string;
  let app: NestExpressApplication;
  let url: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-direct-'));
    const env = { ROLE: 'node', CLUSTER_TOKEN: 'tok', LOG_LEVEL: 'silent', HOST: '127.0.0.1', PORT: '0', DATA_DIR: dir, REGISTRY_URL: 'http://127.0.0.1:9', NODE_ID: 'n1', ADVERTISE_URL: 'http://127.0.0.1:1', API_TOKENS: 'rw', API_READ_TOKENS: 'ro' };
    ({ app } = await createApp(loadConfig(env), { logger: false }));
    await app.listen(0, '127.0.0.1');
    url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });

  afterAll(async () => {
    await app.close();
    await rm(dir, { recursive: true, force: true });
  });

  const doc = async (r: Response) => (await r.json()) as { code?: string; sha256?: string; [field: string]: unknown };
  const as = (token: string | undefined, init: RequestInit = {}): RequestInit => ({ ...init, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers as Record<string, string>) } });

  it('are the file routes and the internal routes every replicated write and read takes', () => {
    expect(app.get(DirectRoutes).list().sort()).toEqual([
      'DELETE /v1/files/*key', 'GET /v1/files/*key', 'HEAD /v1/files/*key',
      'POST /internal/entries/batch', 'POST /internal/fence/batch', 'POST /internal/versions', 'POST /internal/writes/batch',
      'PUT /internal/entries', 'PUT /v1/files/*key',
    ]);
  });

  it('check an internal body by hand: the cluster token first, then malformed JSON or keys are a 400', async () => {
    const post = (token: string | undefined, body: string) => fetch(`${url}/internal/versions`, as(token, { method: 'POST', body, headers: { 'content-type': 'application/json' } }));
    const none = await post(undefined, '{"keys":[]}');
    expect([none.status, (await doc(none)).code]).toEqual([401, 'UNAUTHORIZED']);
    const client = await post('rw', '{"keys":[]}');
    expect(client.status).toBe(401); // a client token is not the cluster token
    await client.arrayBuffer();
    for (const bad of ['{"keys":', '{"keys":[1]}', '{"key":["a"]}']) {
      const r = await post('tok', bad);
      expect([bad, r.status, (await doc(r)).code]).toEqual([bad, 400, 'BAD_REQUEST']);
    }
    const ok = await post('tok', '{"keys":["nothing-here"]}');
    expect([ok.status, await ok.json()]).toEqual([200, { entries: [null] }]);
  });

  it('apply the controller\'s guard and answer its errors as problem documents', async () => {
    const none = await fetch(`${url}/v1/files/a.txt`, as(undefined, { method: 'PUT', body: 'hi' }));
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect(none.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(await doc(none)).toMatchObject({ status: 401, code: 'UNAUTHORIZED', title: 'Unauthorized', instance: '/v1/files/a.txt' });
    const readOnly = await fetch(`${url}/v1/files/a.txt`, as('ro', { method: 'PUT', body: 'hi' }));
    expect([readOnly.status, (await doc(readOnly)).code]).toEqual([403, 'FORBIDDEN']);
    const deleteReadOnly = await fetch(`${url}/v1/files/a.txt`, as('ro', { method: 'DELETE' }));
    expect(deleteReadOnly.status).toBe(403);
    await deleteReadOnly.arrayBuffer();
  });

  it('store, serve, answer HEAD and 304, and delete, as the routed handlers did', async () => {
    const put = await fetch(`${url}/v1/files/dir%2Fb.txt`, as('rw', { method: 'PUT', body: 'hello', headers: { 'content-type': 'text/plain' } }));
    expect(put.status).toBe(201);
    const info = await doc(put);
    expect(put.headers.get('etag')).toBe(`"${info.sha256}"`);
    expect(put.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const get = await fetch(`${url}/v1/files/dir/b.txt`, as('ro'));
    expect([get.status, get.headers.get('content-type'), get.headers.get('etag'), await get.text()]).toEqual([200, 'text/plain', `"${info.sha256}"`, 'hello']);
    const head = await fetch(`${url}/v1/files/dir/b.txt`, as('ro', { method: 'HEAD' }));
    expect([head.status, head.headers.get('content-length')]).toEqual([200, '5']);
    const range = await fetch(`${url}/v1/files/dir/b.txt`, as('ro', { headers: { range: 'bytes=1-2' } }));
    expect([range.status, range.headers.get('content-range'), await range.text()]).toEqual([206, 'bytes 1-2/5', 'el']);
    const same = await fetch(`${url}/v1/files/dir/b.txt`, as('ro', { headers: { 'if-none-match': `"${info.sha256}"` } }));
    expect(same.status).toBe(304);
    const del = await fetch(`${url}/v1/files/dir/b.txt`, as('rw', { method: 'DELETE' }));
    expect(del.status).toBe(204);
    const gone = await fetch(`${url}/v1/files/dir/b.txt`, as('ro'));
    expect([gone.status, (await doc(gone)).code]).toEqual([404, 'NOT_FOUND']);
    const badKey = await fetch(`${url}/v1/files/%ZZ`, as('ro'));
    expect([badKey.status, (await doc(badKey)).code]).toEqual([400, 'INVALID_KEY']);
  });

  it('leave what they do not match to Express: the listing, and the observer labels both kinds alike', async () => {
    const list = await fetch(`${url}/v1/files/`, as('ro'));
    expect(list.status).toBe(200);
    expect(await doc(list)).toMatchObject({ items: expect.any(Array) });
    const unauthorized = await fetch(`${url}/v1/files?limit=5`);
    expect([unauthorized.status, (await doc(unauthorized)).code]).toEqual([401, 'UNAUTHORIZED']);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/shoal_http_request_duration_seconds_count\{method="GET",route="\/v1\/files\/\*key",status="200"\} \d/);
    expect(metrics).toMatch(/shoal_http_request_duration_seconds_count\{method="PUT",route="\/v1\/files\/\*key",status="401"\} 1/);
    expect(metrics).toMatch(/shoal_http_request_duration_seconds_count\{method="GET",route="\/v1\/files",status="200"\} 1/);
  });
});
