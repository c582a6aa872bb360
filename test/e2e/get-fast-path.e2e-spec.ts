import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import { jest } from '@jest/globals';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { loadConfig } from '../../src/config/app-config.js';
import { createApp } from '../../src/app.js';
import { FakeRegistry } from '../../src/node/membership/fake-registry.js';
import { REGISTRY_CONNECTOR } from '../../src/node/membership/registry-client.js';
import { ReadCoordinatorService } from '../../src/node/replication/read-coordinator.service.js';
import { ENTRY_INDEX, type EntryIndex } from '../../src/node/storage/entry-index.js';
import { LocalStoreService } from '../../src/node/storage/local-store.service.js';

/**
 * The download fast path (issue #14): a small file held here inline is answered with one `res.end(buffer)`. It must be
 * indistinguishable from the streamed answer — same status, same headers in the same order, same bytes — and a
 * corrupt inline copy must never go out. One real node in this process (fake registry), real HTTP on 127.0.0.1 and
 * a real LMDB data dir; the streamed path is forced by making the fast path decline.
 */

interface Answer {
  status: number;
  /** raw header pairs in wire order, Date left out (it changes between requests) */
  headers: [string, string][];
  body: Buffer;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('GET of a small file: the inline fast path', () => {
  let dir: string;
  let app: NestExpressApplication;
  let port: number;
  let reads: ReadCoordinatorService;

  function call(method: string, key: string, headers: Record<string, string> = {}, body?: Buffer): Promise<Answer> {
    return request(method, `/v1/files/${key}`, headers, body);
  }

  function request(method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => {
          const pairs: [string, string][] = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2) if (res.rawHeaders[i].toLowerCase() !== 'date') pairs.push([res.rawHeaders[i], res.rawHeaders[i + 1]]);
          resolve({ status: res.statusCode!, headers: pairs, body: Buffer.concat(parts) });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** The same request with the fast path declining (as for a file that is not inline here): the streamed answer. */
  async function streamed(method: string, key: string, headers: Record<string, string> = {}): Promise<Answer> {
    const spy = jest.spyOn(reads, 'readInline').mockReturnValue(undefined);
    try {
      return await call(method, key, headers);
    } finally {
      spy.mockRestore();
    }
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-fast-get-'));
    const registry = new FakeRegistry('http://registry.test');
    const config = loadConfig({ ROLE: 'node', CLUSTER_TOKEN: 'tok', LOG_LEVEL: 'silent', DATA_DIR: dir, REGISTRY_URL: registry.baseUrl, NODE_ID: 'n1', ADVERTISE_URL: 'http://127.0.0.1:1', REPLICATION_FACTOR: '1', WRITE_QUORUM: '1', READ_QUORUM: '1', SCRUB_BYTES_PER_SEC: '0' });
    ({ app } = await createApp(config, { logger: false, overrides: [{ provide: REGISTRY_CONNECTOR, useValue: FakeRegistry.connector(registry) }] }));
    await app.listen(0, '127.0.0.1');
    port = (app.getHttpServer().address() as AddressInfo).port;
    reads = app.get(ReadCoordinatorService);
    // The node must see itself up before it accepts writes.
    for (let i = 0; i < 100; i++) {
      if ((await call('PUT', 'probe', {}, Buffer.from('x'))).status === 201) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  afterAll(async () => {
    await app?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers a 4 KiB file with the same status, headers (order included) and bytes as the streamed path', async () => {
    const data = randomBytes(4096);
    const put = await call('PUT', 'docs%2Fsmall.bin', { 'content-type': 'image/x-test' }, data);
    expect(put.status).toBe(201);
    const spy = jest.spyOn(reads, 'readInline');
    const fast = await call('GET', 'docs%2Fsmall.bin');
    expect(spy).toHaveReturnedWith(expect.any(Buffer)); // the fast path answered
    spy.mockRestore();
    const slow = await streamed('GET', 'docs%2Fsmall.bin');
    expect(fast.status).toBe(200);
    expect(fast.body.equals(data)).toBe(true);
    expect(slow.body.equals(data)).toBe(true);
    expect(fast.headers).toEqual(slow.headers);
    const h = Object.fromEntries(fast.headers.map(([k, v]) => [k.toLowerCase(), v]));
    expect(h).toMatchObject({ etag: `"${sha(data)}"`, 'content-length': '4096', 'content-type': 'image/x-test', 'accept-ranges': 'bytes' });
    expect(h['x-shoal-version']).toMatch(/\S/);
    expect(new Date(h['last-modified']).getTime()).toBeGreaterThan(0);
  });

  it('an empty file too', async () => {
    expect((await call('PUT', 'empty', {}, Buffer.alloc(0))).status).toBe(201);
    const fast = await call('GET', 'empty');
    const slow = await streamed('GET', 'empty');
    expect(fast.status).toBe(200);
    expect(fast.body.length).toBe(0);
    expect(fast.headers).toEqual(slow.headers);
  });

  it('Range, If-None-Match and HEAD behave as before (DESIGN §2)', async () => {
    const data = randomBytes(3000);
    await call('PUT', 'ranged', {}, data);
    const part = await call('GET', 'ranged', { range: 'bytes=10-19' });
    expect(part.status).toBe(206);
    expect(part.body.equals(data.subarray(10, 20))).toBe(true);
    expect(part.headers).toContainEqual(['content-range', 'bytes 10-19/3000']);
    expect((await call('GET', 'ranged', { range: 'bytes=5000-' })).status).toBe(416);
    const tag = `"${sha(data)}"`;
    const notModified = await call('GET', 'ranged', { 'if-none-match': tag });
    expect(notModified.status).toBe(304);
    expect(notModified.body.length).toBe(0);
    expect(notModified.headers).toEqual((await streamed('GET', 'ranged', { 'if-none-match': tag })).headers);
    expect((await call('GET', 'ranged', { 'if-none-match': '"other"' })).status).toBe(200);
    const head = await call('HEAD', 'ranged');
    expect(head.status).toBe(200);
    expect(head.headers).toContainEqual(['content-length', '3000']);
    expect((await call('GET', 'missing')).status).toBe(404);
  });

  it('a PUT answers with the headers of a form upload (which Express\'s res.json writes), in the same order', async () => {
    const data = Buffer.from('hello');
    const put = await call('PUT', 'greeting', { 'content-type': 'text/plain' }, data);
    const boundary = 'b0undary';
    const form = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="key"\r\n\r\ngreeting2\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="g.txt"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--${boundary}--\r\n`);
    const post = await request('POST', '/v1/files', { 'content-type': `multipart/form-data; boundary=${boundary}` }, form);
    expect(put.status).toBe(201);
    expect(post.status).toBe(201);
    const names = (a: Answer) => a.headers.map(([k]) => k.toLowerCase());
    expect(names(put)).toEqual(names(post));
    const h = (a: Answer) => Object.fromEntries(a.headers.map(([k, v]) => [k.toLowerCase(), v]));
    expect(h(put)['content-type']).toBe(h(post)['content-type']);
    expect(h(put).etag).toBe(h(post).etag); // the same bytes
    expect(Number(h(put)['content-length'])).toBe(put.body.length);
    const info = JSON.parse(put.body.toString()) as Record<string, unknown>;
    expect(Object.keys(info)).toEqual(Object.keys(JSON.parse(post.body.toString()) as object));
    expect(info).toMatchObject({ key: 'greeting', size: 5, sha256: sha(data), contentType: 'text/plain', replicas: 1 });
  });

  it('never serves a corrupt inline copy: it is reported for repair and the read fails cleanly', async () => {
    const data = randomBytes(4096);
    await call('PUT', 'rotten', {}, data);
    const store = app.get(LocalStoreService);
    const reported: string[] = [];
    const sub = store.corrupted.subscribe((e) => reported.push(e.key));
    const bad = Buffer.from(data);
    bad[100] ^= 0xff;
    await app.get<EntryIndex>(ENTRY_INDEX).putInline(sha(data), bad);
    try {
      const got = await call('GET', 'rotten');
      // The only copy is rotten and no other owner exists: a retryable 503, never the wrong bytes.
      expect(got.status).toBe(503);
      expect(got.body.includes(bad.subarray(0, 64))).toBe(false);
      expect(reported).toContain('rotten');
    } finally {
      sub.unsubscribe();
    }
    // Once the bytes are put back, it is served again.
    await app.get<EntryIndex>(ENTRY_INDEX).putInline(sha(data), data);
    expect((await call('GET', 'rotten')).body.equals(data)).toBe(true);
  });
});
