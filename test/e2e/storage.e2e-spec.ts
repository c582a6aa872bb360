import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { type Cluster, startCluster } from '../support/start-cluster.js';
import { pollUntil, sleep } from '../support/poll-until.js';
import type { ShoalProcess } from '../support/processes.js';
import { sha256 as sha } from '../support/files.js';
import type { FileItem, FileList } from '../../src/client/shoal-client.js';

/**
 * The client API of one real node over real HTTP (DESIGN §2), its on-disk guarantees (§4) after a crash, and its
 * memory use while streaming. Requests go through node:http or raw sockets so that paths (`..`, `a//b`) and bodies
 * (chunked, cut off) are sent exactly as written.
 */

const KiB = 1024;
const MiB = 1024 * KiB;
const INLINE_MAX = 16 * KiB;

interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

interface CallOptions {
  headers?: Record<string, string>;
  body?: Buffer | string;
  token?: string;
  timeoutMs?: number;
}

const json = <T = Record<string, unknown>>(r: Res): T => JSON.parse(r.body.toString('utf8')) as T;
/** Key order: UTF-8 bytes (= code points), as the store keeps them. */
const utf8Order = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
const enc = (key: string) => key.split('/').map(encodeURIComponent).join('/');

/** The listing's shapes, as the generated client types them. */
type Item = FileItem;
type Page = FileList;

describe('storage over HTTP, one node', () => {
  let cluster: Cluster;
  let node: ShoalProcess;

  function call(method: string, p: string, opts: CallOptions = {}): Promise<Res> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      const req = http.request({ host: '127.0.0.1', port: node.port, method, path: p, headers, agent: false, timeout: opts.timeoutMs ?? 15_000 }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${p} timed out`)));
      req.on('error', reject);
      req.end(opts.body);
    });
  }

  const put = (key: string, body: Buffer | string, headers: Record<string, string> = {}, token?: string) =>
    call('PUT', `/v1/files/${enc(key)}`, { body, headers, token });
  const get = (key: string, headers: Record<string, string> = {}, token?: string) => call('GET', `/v1/files/${enc(key)}`, { headers, token });

  /** Every item of a listing, walking the cursor; checks page sizes and that the loop ends. */
  async function listAll(query: string, limit: number): Promise<{ keys: string[]; items: Item[]; pages: Page[] }> {
    const pages: Page[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 1000; i++) {
      const r = await call('GET', `/v1/files?${query}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(r.status).toBe(200);
      const page = json<Page>(r);
      expect(page.items.length).toBeLessThanOrEqual(limit);
      pages.push(page);
      cursor = page.nextCursor;
      if (cursor === null) {
        const items = pages.flatMap((pg) => pg.items);
        return { keys: items.map((it) => it.key), items, pages };
      }
    }
    throw new Error('the listing did not end after 1000 pages');
  }

  const tmpDir = () => path.join(node.dataDir, 'tmp');
  const tmpFiles = () => readdir(tmpDir());

  async function blobFiles(): Promise<string[]> {
    const out: string[] = [];
    for (const d of await readdir(path.join(node.dataDir, 'blobs'), { recursive: true, withFileTypes: true })) if (d.isFile()) out.push(d.name);
    return out.sort();
  }

  beforeAll(async () => {
    cluster = await startCluster({ nodes: 1 });
    node = cluster.nodes[0];
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  it('logs JSON lines whose context is the class that wrote them (the bundled dist/main.js keeps class names)', () => {
    const lines = node.logs().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { context?: string; msg?: string });
    expect(lines.find((l) => /API_READ_TOKENS are empty/.test(l.msg ?? ''))).toMatchObject({ context: 'ClientAuthGuard' });
  });

  describe('client API calls (DESIGN §2)', () => {
    it('PUT answers 201 with the stored file and its ETag, keeping Content-Type', async () => {
      const data = randomBytes(40 * KiB);
      const r = await put('api/put.bin', data, { 'content-type': 'text/markdown; charset=utf-8' });
      expect(r.status).toBe(201);
      const info = json(r);
      const nodeId = (await readFile(path.join(node.dataDir, 'node-id'), 'utf8')).trim();
      expect(info).toEqual({ key: 'api/put.bin', size: data.length, sha256: sha(data), contentType: 'text/markdown; charset=utf-8', version: expect.stringMatching(/^[0-9a-f]{12}\.[0-9a-f]{6}\./), replicas: 1, nodes: [nodeId] });
      expect(r.headers.etag).toBe(`"${sha(data)}"`);

      const g = await get('api/put.bin');
      expect(g.status).toBe(200);
      expect(g.headers['content-type']).toBe('text/markdown; charset=utf-8');
      expect(g.body.equals(data)).toBe(true);

      const untyped = await call('PUT', '/v1/files/api/untyped', { body: 'x' });
      expect(json(untyped)).toMatchObject({ contentType: 'application/octet-stream', size: 1 });
      const empty = await put('api/empty', Buffer.alloc(0));
      expect(json(empty)).toMatchObject({ size: 0, sha256: sha('') });
      expect((await get('api/empty')).body.length).toBe(0);
    });

    it('POST multipart stores the file under the key field, before or after the file, or under the file name', async () => {
      const base = `${node.url}/v1/files`;
      const post = async (form: FormData) => {
        const res = await fetch(base, { method: 'POST', body: form, signal: AbortSignal.timeout(10_000) });
        return { status: res.status, etag: res.headers.get('etag'), body: (await res.json()) as Record<string, unknown> };
      };
      const a = randomBytes(30 * KiB);
      const f1 = new FormData();
      f1.append('key', 'api/form/with-key.bin');
      f1.append('file', new Blob([a], { type: 'image/png' }), 'ignored.png');
      const r1 = await post(f1);
      expect(r1.status).toBe(201);
      expect(r1.body).toMatchObject({ key: 'api/form/with-key.bin', size: a.length, sha256: sha(a), contentType: 'image/png', replicas: 1 });
      expect(r1.etag).toBe(`"${sha(a)}"`);

      const b = Buffer.from('key after file');
      const f2 = new FormData();
      f2.append('file', new Blob([b], { type: 'text/plain' }), 'ignored.txt');
      f2.append('key', 'api/form/key-after.txt');
      const r2 = await post(f2);
      expect(r2.status).toBe(201);
      expect(r2.body).toMatchObject({ key: 'api/form/key-after.txt', sha256: sha(b) });

      const c = Buffer.from('named by its file name');
      const f3 = new FormData();
      f3.append('file', new Blob([c]), 'form-named.txt');
      const r3 = await post(f3);
      expect(r3.status).toBe(201);
      expect(r3.body).toMatchObject({ key: 'form-named.txt', size: c.length });

      for (const [key, data] of [['api/form/with-key.bin', a], ['api/form/key-after.txt', b], ['form-named.txt', c]] as const) {
        expect((await get(key)).body.equals(data)).toBe(true);
      }

      const noFile = new FormData();
      noFile.append('key', 'api/form/none');
      expect(await post(noFile)).toMatchObject({ status: 400, body: { code: 'MALFORMED_MULTIPART' } });
      const notMultipart = await call('POST', '/v1/files', { body: 'hello', headers: { 'content-type': 'text/plain' } });
      expect(notMultipart.status).toBe(400);
      expect(json(notMultipart).code).toBe('MALFORMED_MULTIPART');
      expect(await tmpFiles()).toEqual([]);
    });

    it('GET answers 200 with ETag, Content-Length, Content-Type, Last-Modified and Accept-Ranges; HEAD the same without a body', async () => {
      const data = randomBytes(100 * KiB + 3);
      expect((await put('api/get.bin', data, { 'content-type': 'application/x-thing' })).status).toBe(201);
      const g = await get('api/get.bin');
      expect(g.status).toBe(200);
      expect(g.headers).toMatchObject({ etag: `"${sha(data)}"`, 'content-length': String(data.length), 'content-type': 'application/x-thing', 'accept-ranges': 'bytes' });
      expect(Math.abs(Date.parse(g.headers['last-modified']!) - Date.now())).toBeLessThan(60_000);
      expect(g.body.equals(data)).toBe(true);

      const h = await call('HEAD', `/v1/files/api/get.bin`);
      expect(h.status).toBe(200);
      expect(h.body.length).toBe(0);
      for (const name of ['etag', 'content-length', 'content-type', 'last-modified', 'accept-ranges']) expect(h.headers[name]).toBe(g.headers[name]);

      expect((await call('HEAD', '/v1/files/api/missing')).status).toBe(404);
      const missing = await get('api/missing');
      expect(missing.status).toBe(404);
      expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(json(missing)).toMatchObject({ status: 404, code: 'NOT_FOUND' });
    });

    it('Range: 206 with Content-Range, open and suffix ranges; 416 with bytes */size; 400 for bad syntax', async () => {
      const data = randomBytes(200 * KiB);
      const size = data.length;
      await put('api/range.bin', data);
      const ranged = async (range: string, start: number, end: number) => {
        const r = await get('api/range.bin', { range });
        expect(r.status).toBe(206);
        expect(r.headers['content-range']).toBe(`bytes ${start}-${end}/${size}`);
        expect(r.headers['content-length']).toBe(String(end - start + 1));
        expect(r.body.equals(data.subarray(start, end + 1))).toBe(true);
      };
      await ranged('bytes=0-0', 0, 0);
      await ranged('bytes=10-19', 10, 19);
      await ranged('bytes=150000-', 150000, size - 1);
      await ranged('bytes=-50', size - 50, size - 1);
      await ranged(`bytes=-${size + 10}`, 0, size - 1);
      await ranged(`bytes=100-${size + 1000}`, 100, size - 1);
      // a small (inline) file too
      await put('api/range-small.txt', 'hello, range');
      const small = await get('api/range-small.txt', { range: 'bytes=7-11' });
      expect([small.status, small.body.toString(), small.headers['content-range']]).toEqual([206, 'range', 'bytes 7-11/12']);

      for (const range of [`bytes=${size}-`, `bytes=${size + 5}-${size + 10}`, 'bytes=-0']) {
        const r = await get('api/range.bin', { range });
        expect(r.status).toBe(416);
        expect(r.headers['content-range']).toBe(`bytes */${size}`);
        expect(json(r).code).toBe('RANGE_NOT_SATISFIABLE');
      }
      for (const range of ['bytes=abc', 'bytes=5-2', 'bytes=0-1,3-4', 'items=0-1', 'bytes=-']) {
        const r = await get('api/range.bin', { range });
        expect([range, r.status]).toEqual([range, 400]);
        expect(json(r).code).toBe('INVALID_RANGE');
      }
    });

    it('If-None-Match with the current ETag answers 304 without a body', async () => {
      const data = Buffer.from('conditional');
      await put('api/inm.txt', data);
      for (const inm of [`"${sha(data)}"`, `W/"${sha(data)}"`, `"other", "${sha(data)}"`, '*']) {
        const r = await get('api/inm.txt', { 'if-none-match': inm });
        expect([inm, r.status, r.body.length]).toEqual([inm, 304, 0]);
        expect(r.headers.etag).toBe(`"${sha(data)}"`);
      }
      const stale = await get('api/inm.txt', { 'if-none-match': `"${sha('old')}"` });
      expect(stale.status).toBe(200);
      expect(stale.body.equals(data)).toBe(true);
    });

    it('DELETE answers 204, then the file is 404 and gone from both listings; a second DELETE is 404', async () => {
      await put('api/del/a', randomBytes(20 * KiB));
      await put('api/del/b', 'b');
      const d = await call('DELETE', '/v1/files/api/del/a');
      expect(d.status).toBe(204);
      expect(d.body.length).toBe(0);
      expect((await get('api/del/a')).status).toBe(404);
      expect((await call('HEAD', '/v1/files/api/del/a')).status).toBe(404);
      expect((await call('DELETE', '/v1/files/api/del/a')).status).toBe(404);
      expect((await call('DELETE', '/v1/files/api/del/never')).status).toBe(404);
      expect((await listAll('prefix=api/del/', 10)).keys).toEqual(['api/del/b']);
      expect((await listAll('prefix=api/del/&local=true', 10)).keys).toEqual(['api/del/b']);
      // A new version after the delete is a live file again.
      expect((await put('api/del/a', 'again')).status).toBe(201);
      expect((await get('api/del/a')).body.toString()).toBe('again');
    });

    it('lists in key order with prefix, limit and cursor, across every page, without deleted files; local=true too', async () => {
      const keys = Array.from({ length: 26 }, (_, i) => `list/${String.fromCharCode(97 + ((i * 7) % 26))}${i % 3 === 0 ? '/deep' : ''}`);
      for (const k of keys) expect((await put(k, `content of ${k}`, { 'content-type': 'text/plain' })).status).toBe(201);
      await put('lis', 'outside the prefix');
      await put('list0', 'outside the prefix too');
      const deleted = keys.filter((_, i) => i % 5 === 2);
      for (const k of deleted) expect((await call('DELETE', `/v1/files/${k}`)).status).toBe(204);
      const expected = keys.filter((k) => !deleted.includes(k)).sort();
      expect(expected.length).toBe(21);

      for (const query of ['prefix=list/', 'prefix=list/&local=true', 'prefix=list%2F&local=1']) {
        const { keys: listed, items, pages } = await listAll(query, 4);
        expect(listed).toEqual(expected);
        expect(pages.map((p) => p.items.length)).toEqual([4, 4, 4, 4, 4, 1]);
        const first = items.find((it) => it.key === expected[0])!;
        expect(first).toEqual({ key: expected[0], size: Buffer.byteLength(`content of ${expected[0]}`), sha256: sha(`content of ${expected[0]}`), contentType: 'text/plain', version: expect.any(String), updatedAt: expect.any(String) });
        expect(Math.abs(Date.parse(first.updatedAt) - Date.now())).toBeLessThan(120_000);
      }
      // one page holding everything
      const all = await listAll('prefix=list/', 1000);
      expect(all.pages).toHaveLength(1);
      expect(all.keys).toEqual(expected);
      // prefix narrows; a prefix matching nothing is an empty page
      expect((await listAll('prefix=list/a', 2)).keys).toEqual(expected.filter((k) => k.startsWith('list/a')));
      expect(await listAll('prefix=nothing-here/', 5)).toMatchObject({ keys: [], pages: [{ items: [], nextCursor: null }] });
      // the whole store is in key order too
      const everything = (await listAll('local=true', 7)).keys;
      expect(everything).toEqual([...everything].sort(utf8Order));
      expect(everything).toEqual(expect.arrayContaining(['lis', 'list0', ...expected]));

      expect((await call('GET', '/v1/files?cursor=%%%')).status).toBe(400);
      expect((await call('GET', '/v1/files?cursor=bm90LWpzb24')).status).toBe(400);
      for (const limit of ['0', '1001', 'x']) expect((await call('GET', `/v1/files?limit=${limit}`)).status).toBe(400);
    });

    it.each(['prefix=exact/&local=true', 'prefix=exact/'])('%s: a page that ends exactly at the last key has nextCursor null', async (query) => {
      for (const k of ['exact/1', 'exact/2', 'exact/3', 'exact/4']) if ((await get(k)).status === 404) await put(k, k);
      const { pages } = await listAll(query, 2);
      expect(pages.map((p) => p.items.map((i) => i.key))).toEqual([['exact/1', 'exact/2'], ['exact/3', 'exact/4']]);
    });

    it.each(['prefix=order/&local=true', 'prefix=order/'])('%s: pages follow one key order, so no key is skipped whatever its characters', async (query) => {
      // UTF-16 order (JS <) and UTF-8 byte order (the store's) differ for U+E000–U+FFFF against astral characters.
      const keys = ['order/a', 'order/\u00e9', 'order/\ue000', 'order/\uffee', 'order/\u{1f41f}', 'order/z'];
      for (const k of keys) if ((await get(k)).status === 404) expect((await put(k, k)).status).toBe(201);
      const expected = [...keys].sort(utf8Order);
      for (const limit of [1, 2, 100]) expect([limit, (await listAll(query, limit)).keys]).toEqual([limit, expected]);
    });

    it('GET /v1/node describes the node', async () => {
      const r = await call('GET', '/v1/node');
      expect(r.status).toBe(200);
      expect(json(r)).toMatchObject({ url: node.url, state: 'ready', files: expect.any(Number), usedBytes: expect.any(Number) });
    });
  });

  describe('keys', () => {
    it.each([
      ['..', '/v1/files/..'],
      ['..', '/v1/files/%2E%2E'],
      ['keys/../x', '/v1/files/keys/../x'],
      ['keys/a//b', '/v1/files/keys/a//b'],
      ['/keys/leading', '/v1/files//keys/leading'],
      ['keys/🐟 fish ü.txt', `/v1/files/keys/${encodeURIComponent('🐟 fish ü.txt')}`],
      ['keys/slash/x', '/v1/files/keys%2Fslash%2Fx'],
    ])('%j sent as %s is an ordinary key', async (key, p) => {
      const body = `body of ${key}`;
      const r = await call('PUT', p, { body });
      expect(r.status).toBe(201);
      expect(json(r).key).toBe(key);
      const g = await call('GET', p);
      expect([g.status, g.body.toString()]).toEqual([200, body]);
      // the canonical encoding names the same file
      expect((await get(key)).body.toString()).toBe(body);
      const listed = await listAll(`prefix=${encodeURIComponent(key)}`, 10);
      expect(listed.keys).toContain(key);
      expect((await call('DELETE', p)).status).toBe(204);
    });

    it('%2F and / name the same key', async () => {
      await call('PUT', '/v1/files/keys%2Fsame', { body: 'one' });
      expect((await call('GET', '/v1/files/keys/same')).body.toString()).toBe('one');
      await call('PUT', '/v1/files/keys/same', { body: 'two' });
      expect((await call('GET', '/v1/files/keys%2fsame')).body.toString()).toBe('two');
      expect((await listAll('prefix=keys/same', 10)).keys).toEqual(['keys/same']);
    });

    it('accepts exactly 1024 bytes and refuses 1025, NUL, control characters and bad escapes with 400 INVALID_KEY', async () => {
      const k1024 = `keys/${'é'.repeat(200)}${'x'.repeat(1024 - 5 - 400)}`;
      expect(Buffer.byteLength(k1024)).toBe(1024);
      const ok = await put(k1024, 'max');
      expect(ok.status).toBe(201);
      expect(json(ok).key).toBe(k1024);
      expect((await get(k1024)).body.toString()).toBe('max');

      const invalid = [`/v1/files/${'k'.repeat(1025)}`, `/v1/files/keys/${'é'.repeat(510)}x`.replace(/é/g, '%C3%A9'), '/v1/files/%00', '/v1/files/a%00b', '/v1/files/a%0Ab', '/v1/files/a%7F', '/v1/files/%C2%85'];
      for (const p of invalid) {
        const r = await call('PUT', p, { body: 'nope' });
        expect([p.slice(0, 40), r.status, json(r).code]).toEqual([p.slice(0, 40), 400, 'INVALID_KEY']);
        expect((await call('GET', p)).status).toBe(400);
      }
      // Escapes that do not decode to UTF-8 are refused by Express's router before the key is looked at: 400 all the
      // same (its code is BAD_REQUEST, not INVALID_KEY).
      for (const p of ['/v1/files/%FF', '/v1/files/a%2', '/v1/files/%E0%A4']) {
        const r = await call('PUT', p, { body: 'nope' });
        expect([p, r.status, json(r).code]).toEqual([p, 400, expect.stringMatching(/^(INVALID_KEY|BAD_REQUEST)$/)]);
      }
      expect(await tmpFiles()).toEqual([]);
    });
  });

  describe('uploads that must store nothing', () => {
    it('X-Content-SHA256: a mismatch is 400 CHECKSUM_MISMATCH and nothing is stored; a match is stored', async () => {
      for (const size of [100, 3 * MiB]) {
        const data = randomBytes(size);
        const r = await put(`bad-sum/${size}`, data, { 'x-content-sha256': sha('something else') });
        expect(r.status).toBe(400);
        expect(json(r).code).toBe('CHECKSUM_MISMATCH');
        expect((await get(`bad-sum/${size}`)).status).toBe(404);
        const good = await put(`good-sum/${size}`, data, { 'x-content-sha256': sha(data).toUpperCase() });
        expect(good.status).toBe(201);
      }
      expect((await put('bad-sum/malformed', 'x', { 'x-content-sha256': 'xyz' })).status).toBe(400);
      expect((await listAll('prefix=bad-sum/', 10)).keys).toEqual([]);
      expect(await tmpFiles()).toEqual([]);
    });

    it.each([
      ['small', 10_000, 5_000],
      ['large', 3 * MiB, 1.5 * MiB + 17],
    ])('a %s body shorter than its Content-Length, then the socket closed: nothing stored, tmp/ empty', async (name, declared, sent) => {
      const key = `short/${name}`;
      const socket = net.connect(node.port, '127.0.0.1');
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      socket.on('error', () => undefined);
      socket.write(`PUT /v1/files/${key} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: ${declared}\r\n\r\n`);
      const body = randomBytes(sent);
      for (let i = 0; i < body.length; i += 64 * KiB) socket.write(body.subarray(i, i + 64 * KiB));
      // Let the node receive (and spill to tmp/) what was sent before the connection goes away.
      await pollUntil(async () => socket.writableLength === 0, { timeoutMs: 5_000, intervalMs: 20 });
      await sleep(300);
      socket.destroy();
      await pollUntil(async () => expect(await tmpFiles()).toEqual([]), { timeoutMs: 5_000, message: 'tmp/ was not emptied' });
      expect((await get(key)).status).toBe(404);
      expect((await listAll('prefix=short/', 10)).keys).toEqual([]);
    });
  });

  describe('with MAX_OBJECT_BYTES and client tokens', () => {
    const MAX = 1 * MiB;
    const RW = 'rw-token-1';
    const RO = 'ro-token-1';

    beforeAll(async () => {
      await node.restart({ MAX_OBJECT_BYTES: String(MAX), API_TOKENS: `other,${RW}`, API_READ_TOKENS: RO });
      await cluster.waitForMembership();
    }, 60_000);

    afterAll(async () => {
      await node.restart({ MAX_OBJECT_BYTES: undefined, API_TOKENS: undefined, API_READ_TOKENS: undefined });
      await cluster.waitForMembership();
    }, 60_000);

    it('refuses a declared Content-Length over the limit with 413 before reading the body', async () => {
      const socket = net.connect(node.port, '127.0.0.1');
      socket.on('error', () => undefined);
      let answer = '';
      socket.on('data', (c: Buffer) => (answer += c.toString('latin1')));
      socket.write(`PUT /v1/files/max/declared HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${RW}\r\nContent-Length: ${MAX + 1}\r\n\r\n`);
      // Not one byte of the body is sent: the answer must come anyway.
      await pollUntil(() => answer.includes('\r\n\r\n') && answer.includes('}'), { timeoutMs: 5_000, message: () => `no answer yet: ${JSON.stringify(answer)}` });
      socket.destroy();
      expect(answer).toMatch(/^HTTP\/1\.1 413 /);
      expect(answer).toContain('"code":"PAYLOAD_TOO_LARGE"');
      expect((await get('max/declared', {}, RW)).status).toBe(404);
    });

    it('refuses a chunked upload with 413 once it passes the limit while streaming, and keeps nothing', async () => {
      const outcome = await new Promise<{ status?: number; body?: string; written: number; error?: string }>((resolve) => {
        let written = 0;
        let done = false;
        const finish = (o: { status?: number; body?: string; error?: string }) => {
          if (done) return;
          done = true;
          resolve({ ...o, written });
        };
        const req = http.request(
          { host: '127.0.0.1', port: node.port, method: 'PUT', path: '/v1/files/max/chunked', agent: false, headers: { authorization: `Bearer ${RW}`, 'transfer-encoding': 'chunked' } },
          (res) => {
            const parts: Buffer[] = [];
            res.on('data', (c: Buffer) => parts.push(c));
            res.on('end', () => finish({ status: res.statusCode, body: Buffer.concat(parts).toString() }));
            res.on('error', (err) => finish({ status: res.statusCode, error: err.message }));
          },
        );
        req.on('error', (err) => finish({ error: err.message }));
        void (async () => {
          for (let i = 0; i < 256 && !done && !req.destroyed; i++) {
            const ok = req.write(randomBytes(32 * KiB));
            written += 32 * KiB;
            if (!ok) await new Promise((r) => setTimeout(r, 20));
            await sleep(2);
          }
          if (!done && !req.destroyed) req.end();
        })();
      });
      expect(outcome).toMatchObject({ status: 413 });
      expect(JSON.parse(outcome.body!)).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
      expect((await get('max/chunked', {}, RW)).status).toBe(404);
      await pollUntil(async () => expect(await tmpFiles()).toEqual([]), { timeoutMs: 5_000 });
    });

    it('accepts exactly MAX_OBJECT_BYTES, and applies the limit to multipart uploads', async () => {
      const data = randomBytes(MAX);
      expect((await put('max/exact', data, {}, RW)).status).toBe(201);
      const form = new FormData();
      form.append('key', 'max/form');
      form.append('file', new Blob([randomBytes(MAX + 1)]), 'big.bin');
      const res = await fetch(`${node.url}/v1/files`, { method: 'POST', body: form, headers: { authorization: `Bearer ${RW}` }, signal: AbortSignal.timeout(10_000) }).then(
        async (r) => ({ status: r.status, body: await r.text() }),
        (err: Error) => ({ status: 0, body: err.message }),
      );
      expect(res.status).toBe(413);
      expect((await get('max/form', {}, RW)).status).toBe(404);
    });

    it('401 without or with an unknown token, 403 for a read-only token writing; reads with the read token; writes with API and cluster tokens', async () => {
      for (const token of [undefined, 'wrong']) {
        for (const [method, p] of [['PUT', '/v1/files/auth/x'], ['GET', '/v1/files/auth/x'], ['HEAD', '/v1/files/auth/x'], ['DELETE', '/v1/files/auth/x'], ['GET', '/v1/files'], ['POST', '/v1/files']]) {
          const r = await call(method, p, { token, body: method === 'PUT' ? 'x' : undefined });
          expect([method, p, token, r.status]).toEqual([method, p, token, 401]);
          expect(r.headers['www-authenticate']).toMatch(/^Bearer/);
        }
      }
      const w = await put('auth/x', 'written with an API token', {}, RW);
      expect(w.status).toBe(201);

      for (const [method, p] of [['PUT', '/v1/files/auth/x'], ['PUT', '/v1/files/auth/new'], ['DELETE', '/v1/files/auth/x'], ['POST', '/v1/files']]) {
        const r = await call(method, p, { token: RO, body: method === 'PUT' ? 'x' : undefined });
        expect([method, p, r.status, json(r).code]).toEqual([method, p, 403, 'FORBIDDEN']);
      }
      expect((await get('auth/x', {}, RO)).body.toString()).toBe('written with an API token');
      expect((await call('HEAD', '/v1/files/auth/x', { token: RO })).status).toBe(200);
      expect((await call('GET', '/v1/files?prefix=auth/', { token: RO })).status).toBe(200);
      expect((await get('auth/new', {}, RO)).status).toBe(404);

      expect((await put('auth/cluster', 'written with the cluster token', {}, cluster.token)).status).toBe(201);
      expect((await call('DELETE', '/v1/files/auth/cluster', { token: cluster.token })).status).toBe(204);
      expect((await call('DELETE', '/v1/files/auth/x', { token: RW })).status).toBe(204);
      // Health and metrics stay open.
      expect((await call('GET', '/health/live')).status).toBe(200);
    });
  });

  describe('kill -9 during uploads', () => {
    /** A PUT of `total` pseudo-random bytes sent slowly; never completes on its own before the kill. */
    function slowUpload(key: string, total: number) {
      let sent = 0;
      let failed = false;
      const req = http.request({ host: '127.0.0.1', port: node.port, method: 'PUT', path: `/v1/files/${key}`, agent: false, headers: { 'content-length': String(total) } });
      const outcome = new Promise<string>((resolve) => {
        req.on('response', (res) => {
          res.resume();
          resolve(`answered ${res.statusCode}`);
        });
        req.on('error', (err) => {
          failed = true;
          resolve(`failed: ${err.message}`);
        });
      });
      void (async () => {
        for (let i = 0; sent < total && i < 1000 && !failed && !req.destroyed; i++) {
          const chunk = randomBytes(Math.min(512 * KiB, total - sent));
          sent += chunk.length;
          if (!req.write(chunk)) await new Promise((r) => setTimeout(r, 50));
          await sleep(50);
        }
        if (!failed && !req.destroyed) req.end();
      })();
      return { sent: () => sent, outcome };
    }

    it('keeps every acknowledged file intact and nothing of the interrupted ones: no temp files, no orphan blobs', async () => {
      const acked = new Map<string, string>();
      const sizes = [0, 10, INLINE_MAX, INLINE_MAX + 1, 200 * KiB, 1.5 * MiB + 3];
      const putAcked = async (key: string, data: Buffer) => {
        const r = await put(key, data);
        expect(r.status).toBe(201);
        acked.set(key, sha(data));
      };
      for (const [i, size] of sizes.entries()) await putAcked(`crash/before/${i}`, randomBytes(size));
      const shared = randomBytes(300 * KiB);
      await putAcked('crash/before/shared-1', shared);

      const big = [0, 1, 2, 3].map((i) => ({ key: `crash/big/${i}`, ...slowUpload(`crash/big/${i}`, 50 * MiB) }));
      // Uploads completed while the big ones stream, including one with content the crash interrupts nowhere else.
      for (const [i, size] of sizes.entries()) await putAcked(`crash/during/${i}`, randomBytes(size));
      await putAcked('crash/during/shared-2', shared);
      await pollUntil(() => big.every((b) => b.sent() >= 8 * MiB), { timeoutMs: 20_000, message: () => `big uploads too slow: ${big.map((b) => b.sent())}` });
      await pollUntil(async () => (await tmpFiles()).length >= 4, { timeoutMs: 5_000, message: 'the big uploads never reached tmp/' });

      node.kill('SIGKILL');
      expect(await node.waitExit()).toEqual({ code: null, signal: 'SIGKILL' });
      for (const b of big) {
        expect(b.sent()).toBeLessThan(50 * MiB);
        expect(await b.outcome).toMatch(/^failed/);
      }

      await node.restart();
      await cluster.waitForMembership();

      expect(await tmpFiles()).toEqual([]);
      for (const b of big) expect((await call('HEAD', `/v1/files/${b.key}`)).status).toBe(404);
      for (const [key, digest] of acked) {
        const g = await get(key);
        expect([key, g.status, sha(g.body)]).toEqual([key, 200, digest]);
        expect(g.headers.etag).toBe(`"${digest}"`);
      }
      expect((await listAll('prefix=crash/&local=true', 100)).keys).toEqual([...acked.keys()].sort());

      // One blob file per distinct content larger than the inline limit among live entries, and nothing else.
      const live = (await listAll('local=true', 1000)).items;
      const expectedBlobs = [...new Set(live.filter((it) => it.size > INLINE_MAX).map((it) => it.sha256))].sort();
      expect(await blobFiles()).toEqual(expectedBlobs);
    }, 60_000);

    it('small files written, overwritten and deleted 16 at a time up to a SIGKILL: every acknowledged one intact after it', async () => {
      // What each key held when its last acknowledged request ended (undefined: deleted), and what was in flight.
      const acked = new Map<string, string | undefined>();
      const inFlight = new Map<string, Set<string | undefined>>();
      let stop = false;
      let done = 0;
      const writer = async (w: number) => {
        for (let i = 0; !stop && i < 2000; i++) {
          const key = `burst/${w}/${i % 40}`;
          const del = i % 7 === 6;
          const data = randomBytes(1 + ((i * 977 + w * 131) % INLINE_MAX));
          const next = del ? undefined : sha(data);
          const maybe = inFlight.get(key) ?? new Set();
          maybe.add(next);
          inFlight.set(key, maybe);
          const r = await (del ? call('DELETE', `/v1/files/${key}`) : put(key, data)).catch(() => undefined);
          if (!r) return; // the node is gone
          if (r.status === 201 || r.status === 204 || (del && r.status === 404)) {
            acked.set(key, next);
            inFlight.set(key, new Set());
            done++;
          }
        }
      };
      const writers = Array.from({ length: 16 }, (_, w) => writer(w));
      await pollUntil(() => done >= 600, { timeoutMs: 30_000, message: () => `only ${done} writes acknowledged` });
      node.kill('SIGKILL');
      stop = true;
      await Promise.all(writers);
      expect(await node.waitExit()).toEqual({ code: null, signal: 'SIGKILL' });

      await node.restart();
      await cluster.waitForMembership();
      for (const [key, digest] of acked) {
        const g = await get(key);
        const got = g.status === 404 ? undefined : sha(g.body);
        // The acknowledged state, or a request in flight at the kill that committed without its answer getting out.
        const allowed = [digest, ...(inFlight.get(key) ?? [])];
        expect([key, g.status === 200 || g.status === 404, allowed.includes(got)]).toEqual([key, true, true]);
        if (g.status === 200) expect(g.headers.etag).toBe(`"${got}"`);
      }
    }, 90_000);
  });

  describe('streaming memory', () => {
    it('uploads and downloads 300 MiB with the node RSS growing by less than 100 MiB, bytes identical', async () => {
      const TOTAL = 300 * MiB;
      const CHUNK = 1 * MiB;
      const pid = node.pid;
      const rss = async () => Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))![1]) * KiB;
      let baseline = 0;
      for (let i = 0; i < 3; i++) {
        baseline = Math.max(baseline, await rss());
        await sleep(100);
      }
      let peak = baseline;
      let samples = 0;
      const sampler = setInterval(() => {
        void rss().then((v) => {
          samples++;
          peak = Math.max(peak, v);
        }, () => undefined);
      }, 100);

      try {
        // Upload, generated on the fly and hashed as it goes.
        const upHash = createHash('sha256');
        const uploaded = await new Promise<Res>((resolve, reject) => {
          const req = http.request({ host: '127.0.0.1', port: node.port, method: 'PUT', path: '/v1/files/memory/300mib', agent: false, headers: { 'content-length': String(TOTAL) } }, (res) => {
            const parts: Buffer[] = [];
            res.on('data', (c: Buffer) => parts.push(c));
            res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
          });
          req.on('error', reject);
          void (async () => {
            for (let sent = 0; sent < TOTAL && !req.destroyed; sent += CHUNK) {
              const chunk = randomBytes(CHUNK);
              upHash.update(chunk);
              if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
            }
            req.end();
          })();
        });
        expect(uploaded.status).toBe(201);
        const digest = upHash.digest('hex');
        expect(json(uploaded)).toMatchObject({ size: TOTAL, sha256: digest });

        // Download, hashed as it arrives and not kept.
        const down = await new Promise<{ status: number; bytes: number; sha256: string }>((resolve, reject) => {
          const h = createHash('sha256');
          let bytes = 0;
          http
            .get({ host: '127.0.0.1', port: node.port, path: '/v1/files/memory/300mib', agent: false }, (res) => {
              res.on('data', (c: Buffer) => {
                bytes += c.length;
                h.update(c);
              });
              res.on('end', () => resolve({ status: res.statusCode!, bytes, sha256: h.digest('hex') }));
              res.on('error', reject);
            })
            .on('error', reject);
        });
        expect(down).toEqual({ status: 200, bytes: TOTAL, sha256: digest });
      } finally {
        clearInterval(sampler);
      }
      expect(samples).toBeGreaterThan(10);
      const growth = peak - baseline;
      process.stderr.write(`streaming memory: baseline ${(baseline / MiB).toFixed(1)} MiB, peak ${(peak / MiB).toFixed(1)} MiB, growth ${(growth / MiB).toFixed(1)} MiB over ${samples} samples\n`);
      expect(growth).toBeLessThan(100 * MiB);
      expect((await call('DELETE', '/v1/files/memory/300mib')).status).toBe(204);
    }, 60_000);
  });
});
