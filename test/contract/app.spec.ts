import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { loadConfig } from '../../src/config/app-config.js';
import { createApp } from '../../src/app.js';

/** Boots the real app in-process under jest (ESM mode): proves the module setup, and checks the role split. */
describe('the app in-process', () => {
  let dir: string;
  const apps: NestExpressApplication[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-contract-'));
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function start(env: Record<string, string>): Promise<string> {
    const { app } = await createApp(loadConfig({ CLUSTER_TOKEN: 'tok', LOG_LEVEL: 'silent', HOST: '127.0.0.1', PORT: '0', ...env }), { logger: false });
    await app.listen(0, '127.0.0.1');
    apps.push(app);
    return app.getUrl().then((u) => u.replace('[::1]', '127.0.0.1'));
  }

  it('a registry serves its routes and not the node\'s (404 problem+json)', async () => {
    const url = await start({ ROLE: 'registry', DATA_DIR: join(dir, 'reg') });
    expect((await fetch(`${url}/v1/nodes`)).status).toBe(200);
    const res = await fetch(`${url}/v1/files/a`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await res.json()).toMatchObject({ status: 404, code: 'ROUTE_NOT_FOUND', type: expect.any(String), title: 'Not Found', detail: expect.any(String) });
    expect((await fetch(`${url}/metrics`)).status).toBe(200);
    expect((await fetch(`${url}/health/live`)).status).toBe(200);
  });

  it('a node serves the client API and not the registry\'s', async () => {
    const url = await start({ ROLE: 'node', DATA_DIR: join(dir, 'node'), REGISTRY_URL: 'http://127.0.0.1:9', NODE_ID: 'n1', ADVERTISE_URL: 'http://127.0.0.1:1' });
    expect((await fetch(`${url}/v1/nodes`)).status).toBe(404);
    const put = await fetch(`${url}/v1/files/hello.txt`, { method: 'PUT', body: 'hi' });
    expect(put.status).toBe(201);
    expect(await (await fetch(`${url}/v1/files/hello.txt`)).text()).toBe('hi');
    const bad = await fetch(`${url}/v1/files?limit=zero`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: expect.any(Array) });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/shoal_http_request_duration_seconds_bucket\{.*route="\/v1\/files\/\*key".*status="201"/);
  });
});
