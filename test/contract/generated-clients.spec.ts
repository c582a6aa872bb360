import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import createFetchClient from 'openapi-fetch';
import type { paths as NodePaths } from '../../src/client/generated/node.js';
import { type Cluster, startCluster } from '../support/start-cluster.js';
import { REPO_ROOT } from '../support/processes.js';

const run = promisify(execFile);

/**
 * What a new user does: generate a client from the committed documents with @hey-api/openapi-ts (pinned in
 * package.json), compile it with strict TypeScript, and use it against a real cluster — no hand-written request.
 * Whatever a generated client cannot send right is a defect of the document, not of this test.
 */
type Sdk = Record<string, (options?: Record<string, unknown>) => Promise<{ data?: any; error?: any; response: Response }>>; // eslint-disable-line @typescript-eslint/no-explicit-any
interface Generated {
  sdk: Sdk;
  createClient: (config: unknown) => unknown;
  createConfig: (config: Record<string, unknown>) => unknown;
}

const TOKEN = 'hey-api-rw-token';
const KEYS = ['hey/a b/ü.bin', 'hey/100%?#frag', 'hey/日本語/ファイル名.dat', 'hey/x'];
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function generate(dir: string): Promise<Record<'node' | 'registry', Generated>> {
  for (const role of ['node', 'registry']) {
    await run(process.execPath, [join(REPO_ROOT, 'node_modules/@hey-api/openapi-ts/bin/run.js'), '-i', join(REPO_ROOT, `openapi/${role}.json`), '-o', join(dir, role)], { cwd: dir });
  }
  await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  // Strict, with the browser's lib only: the generated client must stand on its own (no @types, no dependency).
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { outDir: 'js', rootDir: '.', module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', lib: ['es2023', 'dom', 'dom.iterable'], types: [], strict: true, skipLibCheck: false, noEmitOnError: true },
    include: ['node', 'registry'],
  }));
  await run(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], { cwd: dir });
  const load = async (role: string): Promise<Generated> => {
    const sdk = (await import(pathToFileURL(join(dir, 'js', role, 'sdk.gen.js')).href)) as Sdk;
    const client = (await import(pathToFileURL(join(dir, 'js', role, 'client', 'index.js')).href)) as Omit<Generated, 'sdk'>;
    return { sdk, createClient: client.createClient, createConfig: client.createConfig };
  };
  return { node: await load('node'), registry: await load('registry') };
}

describe('clients generated from openapi/*.json drive a real cluster', () => {
  let dir: string;
  let cluster: Cluster;
  let gen: Record<'node' | 'registry', Generated>;
  let clientFor: (url: string) => unknown;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-hey-api-'));
    [gen, cluster] = await Promise.all([generate(dir), startCluster({ nodes: 3, nodeEnv: { API_TOKENS: TOKEN } })]);
    clientFor = (url) => gen.node.createClient(gen.node.createConfig({ baseUrl: url, auth: TOKEN }));
  }, 240_000); // generating and compiling with strict tsc takes ~10 s alone, minutes on a loaded machine

  afterAll(async () => {
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const files = new Map(KEYS.map((k, i) => [k, randomBytes(1000 + i * 50_000)]));

  it('PUT binary bodies with X-Content-SHA256 and their own Content-Type, under keys with /, spaces, %, ?, # and non-ASCII', async () => {
    const client = clientFor(cluster.nodes[0].url);
    for (const [key, bytes] of files) {
      const { data, error, response } = await gen.node.sdk.putFile({ client, path: { key }, body: new Blob([bytes]), headers: { 'Content-Type': 'image/webp', 'X-Content-SHA256': sha256(bytes) } });
      expect([key, response.status, error]).toEqual([key, 201, undefined]);
      expect(data).toMatchObject({ key, size: bytes.length, sha256: sha256(bytes), contentType: 'image/webp', replicas: 3 });
    }
  });

  it('a mangled body is refused, not stored: the declared hash guards against generators that send `{}`', async () => {
    const bytes = files.get('hey/x')!;
    const { error, response } = await gen.node.sdk.putFile({ client: clientFor(cluster.nodes[0].url), path: { key: 'hey/mangled' }, body: '{}', headers: { 'X-Content-SHA256': sha256(bytes) } });
    expect([response.status, error?.code]).toEqual([400, 'CHECKSUM_MISMATCH']);
  });

  it('GET through another node gives the same bytes; HEAD gives the ETag', async () => {
    const client = clientFor(cluster.nodes[2].url);
    for (const [key, bytes] of files) {
      const { data, response } = await gen.node.sdk.getFile({ client, path: { key }, parseAs: 'arrayBuffer' });
      expect([key, response.status, response.headers.get('content-type')]).toEqual([key, 200, 'image/webp']);
      expect([key, sha256(new Uint8Array(data as ArrayBuffer))]).toEqual([key, sha256(bytes)]);
      const head = await gen.node.sdk.headFile({ client, path: { key } });
      expect([key, head.response.status, head.response.headers.get('etag'), head.response.headers.get('content-length')]).toEqual([key, 200, `"${sha256(bytes)}"`, String(bytes.length)]);
    }
  });

  it('multipart POST from the generated form serializer', async () => {
    const client = clientFor(cluster.nodes[1].url);
    const bytes = randomBytes(3000);
    const { data, response } = await gen.node.sdk.postFile({ client, body: { key: 'hey/form ü.bin', file: new Blob([bytes], { type: 'application/x-custom' }) } });
    expect([response.status, data?.key, data?.sha256, data?.contentType]).toEqual([201, 'hey/form ü.bin', sha256(bytes), 'application/x-custom']);
    files.set('hey/form ü.bin', bytes);
  });

  it('lists with limit=1, following nextCursor to the end', async () => {
    const client = clientFor(cluster.nodes[1].url);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 20; page++) {
      const { data, response } = await gen.node.sdk.listFiles({ client, query: { prefix: 'hey/', limit: 1, cursor } });
      expect(response.status).toBe(200);
      expect(data.items.length).toBeLessThanOrEqual(1);
      seen.push(...data.items.map((i: { key: string }) => i.key));
      if (data.nextCursor === null) break;
      cursor = data.nextCursor;
    }
    expect(seen).toEqual([...files.keys()].sort());
  });

  it('DELETE, then a 404 parsed as problem+json', async () => {
    const client = clientFor(cluster.nodes[0].url);
    const key = 'hey/100%?#frag';
    expect((await gen.node.sdk.deleteFile({ client, path: { key } })).response.status).toBe(204);
    const { error, response } = await gen.node.sdk.getFile({ client: clientFor(cluster.nodes[1].url), path: { key } });
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(error).toMatchObject({ status: 404, code: 'NOT_FOUND', title: 'Not Found', type: expect.any(String), detail: expect.stringContaining(key) });
  });

  it('without the token the generated client gets 401 problem+json (the bearer scheme is what authenticated it)', async () => {
    const anonymous = gen.node.createClient(gen.node.createConfig({ baseUrl: cluster.nodes[0].url }));
    const { error, response } = await gen.node.sdk.listFiles({ client: anonymous });
    expect([response.status, error?.code]).toEqual([401, 'UNAUTHORIZED']);
  });

  it('the registry: nodes and cluster summary', async () => {
    const client = gen.registry.createClient(gen.registry.createConfig({ baseUrl: cluster.registry.url }));
    const nodes = await gen.registry.sdk.listNodes({ client });
    expect([nodes.response.status, nodes.data.nodes.map((n: { status: string }) => n.status)]).toEqual([200, ['up', 'up', 'up']]);
    expect(Number.isInteger(nodes.data.partitionBits)).toBe(true);
    const summary = await gen.registry.sdk.getCluster({ client });
    expect([summary.response.status, summary.data.nodes.up]).toEqual([200, 3]);
  });

  /** The snippet of docs/clients.md for openapi-typescript + openapi-fetch (the types of src/client/generated). */
  it('openapi-fetch over the openapi-typescript types: a binary PUT needs bodySerializer, a download parseAs', async () => {
    const api = createFetchClient<NodePaths>({ baseUrl: cluster.nodes[0].url, headers: { Authorization: `Bearer ${TOKEN}` } });
    const bytes = randomBytes(5000);
    const key = 'fetch/a b/ü%?#.bin';
    const put = await api.PUT('/v1/files/{key}', {
      params: { path: { key }, header: { 'X-Content-SHA256': sha256(bytes) } },
      body: bytes as unknown as string, // the types say `string` (format: binary); any BodyInit goes
      bodySerializer: (body) => body, // pass the bytes through: the default JSON.stringify sends "{}" for a Buffer or Blob
      headers: { 'Content-Type': 'application/pdf' },
    });
    expect([put.response.status, put.data?.key, put.data?.contentType]).toEqual([201, key, 'application/pdf']);
    const get = await api.GET('/v1/files/{key}', { params: { path: { key } }, parseAs: 'arrayBuffer' });
    expect([get.response.status, sha256(new Uint8Array(get.data as ArrayBuffer))]).toEqual([200, sha256(bytes)]);
    // Without the serializer the body is mangled; the declared hash makes the node refuse it instead of storing it.
    const mangled = await api.PUT('/v1/files/{key}', { params: { path: { key: 'fetch/mangled' }, header: { 'X-Content-SHA256': sha256(bytes) } }, body: new Blob([bytes]) as unknown as string });
    expect([mangled.response.status, mangled.error?.code]).toEqual([400, 'CHECKSUM_MISMATCH']);
  });
});
