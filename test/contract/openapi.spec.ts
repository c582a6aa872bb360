import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import 'reflect-metadata';
import { buildOpenApiDocuments, serialize } from '../../src/tools/openapi-documents.js';

const run = promisify(execFile);
const ROLES = ['registry', 'node'] as const;
const METHODS = ['get', 'put', 'post', 'delete', 'head', 'patch', 'options'] as const;

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- a parsed OpenAPI document

async function load(role: string): Promise<Json> {
  return JSON.parse(await readFile(`openapi/${role}.json`, 'utf8')) as Json;
}

function operations(doc: Json): Array<[string, Json]> {
  return Object.entries<Json>(doc.paths).flatMap(([path, item]) => METHODS.filter((m) => item[m]).map((m): [string, Json] => [`${m.toUpperCase()} ${path}`, item[m]]));
}

/** Every schema object in the document, with where it is. */
function* schemas(node: unknown, at = '#'): Generator<[string, Json]> {
  if (Array.isArray(node)) {
    for (const [i, v] of node.entries()) yield* schemas(v, `${at}/${i}`);
  } else if (node && typeof node === 'object') {
    if (typeof (node as Json).type === 'string') yield [at, node as Json];
    for (const [k, v] of Object.entries(node)) yield* schemas(v, `${at}/${k}`);
  }
}

describe('OpenAPI documents', () => {
  it('the committed openapi/*.json match the code (run `npm run openapi` after changing the API)', async () => {
    const docs = await buildOpenApiDocuments();
    for (const role of ROLES) {
      const committed = await readFile(`openapi/${role}.json`, 'utf8');
      expect(JSON.parse(committed)).toEqual(JSON.parse(serialize(docs[role])));
    }
  });

  it('have real schemas for every JSON response and keep internal routes out', async () => {
    const node = await load('node');
    expect(Object.keys(node.paths).some((p) => p.startsWith('/internal'))).toBe(false);
    expect(node.paths['/v1/files/{key}'].put.requestBody.content['application/octet-stream'].schema).toEqual({ type: 'string', format: 'binary' });
    expect(node.paths['/v1/files'].post.requestBody.content['multipart/form-data'].schema.properties.file).toMatchObject({ type: 'string', format: 'binary' });
    for (const [name, schema] of Object.entries<Json>(node.components.schemas)) {
      expect([name, schema.enum !== undefined || Object.keys(schema.properties ?? {}).length > 0]).toEqual([name, true]);
    }
  });

  describe.each(ROLES)('%s: written for every generator, not only ours', (role) => {
    let doc: Json;
    beforeAll(async () => {
      doc = await load(role);
    });

    it('numbers are integers (no `type: number`), byte counts int64', () => {
      const floats = [...schemas(doc)].filter(([, s]) => s.type === 'number').map(([at]) => at);
      expect(floats).toEqual([]);
      const bytes = [...schemas(doc.components)].filter(([at]) => /Bytes$/.test(at)).filter(([, s]) => s.format !== 'int64').map(([at]) => at);
      expect(bytes).toEqual([]);
    });

    it('servers is an absolute URL template with defaults; the bearer token is opaque', () => {
      expect(doc.servers.length).toBeGreaterThan(0);
      for (const server of doc.servers) {
        const url = server.url.replace(/\{(\w+)\}/g, (_: string, v: string) => server.variables[v].default);
        expect(new URL(url).protocol).toBe('http:');
        expect(server.description).toEqual(expect.any(String));
      }
      expect(doc.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer', description: expect.any(String) });
    });

    it('every operation has a tag declared in #/tags (with a description), a summary, a description and an operationId', () => {
      const declared = new Map<string, string>(doc.tags.map((t: Json) => [t.name, t.description]));
      for (const [name, op] of operations(doc)) {
        expect([name, op.tags.every((t: string) => (declared.get(t) ?? '').length > 0)]).toEqual([name, true]);
        expect([name, typeof op.summary, typeof op.description, typeof op.operationId]).toEqual([name, 'string', 'string', 'string']);
      }
      const used = new Set(operations(doc).flatMap(([, op]) => op.tags as string[]));
      expect([...declared.keys()].sort()).toEqual([...used].sort());
    });
  });

  it('the key parameter has length bounds and says how `/` travels', async () => {
    const node = await load('node');
    for (const [name, op] of operations(node).filter(([n]) => n.includes('{key}'))) {
      const key = op.parameters.find((p: Json) => p.name === 'key');
      expect([name, key.schema]).toEqual([name, { type: 'string', minLength: 1, maxLength: 1024 }]);
      expect(key.description).toMatch(/%2F/);
    }
    expect(node.paths['/v1/files'].get.parameters.find((p: Json) => p.name === 'limit').schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 1000 });
  });

  it('declare the headers a download carries', async () => {
    const get = (await load('node')).paths['/v1/files/{key}'].get.responses;
    expect(Object.keys(get['200'].headers).sort()).toEqual(['Accept-Ranges', 'Content-Length', 'Content-Type', 'ETag', 'Last-Modified', 'X-Shoal-Version']);
    expect(Object.keys(get['206'].headers)).toContain('Content-Range');
    expect(Object.keys(get['416'].headers)).toEqual(['Content-Range']);
    expect(Object.keys(get['503'].headers)).toEqual(['Retry-After']);
  });

  it.each(ROLES)('%s passes Redocly (recommended rules, redocly.yaml) with no error and no warning', async (role) => {
    const { stdout } = await run('npx', ['redocly', 'lint', `openapi/${role}.json`, '--format=json'], { env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } }).catch((err: { stdout: string }) => err);
    const report = JSON.parse(stdout) as { totals: Json; problems: Json[] };
    expect([report.totals, report.problems.map((p) => `${p.ruleId}: ${p.message}`)]).toEqual([{ errors: 0, warnings: 0, ignored: 0 }, []]);
  }, 120_000);

  it('pass Spectral (spectral:oas and the rules in .spectral.yaml) with no finding of any severity', async () => {
    const { stdout } = await run('npx', ['spectral', 'lint', '--ruleset', '.spectral.yaml', '--format', 'json', '--quiet', '--fail-severity', 'hint', 'openapi/node.json', 'openapi/registry.json']).catch((err: { stdout: string }) => err);
    const findings = (JSON.parse(stdout.trim() || '[]') as Json[]).map((f) => `${f.source}: ${f.code} ${f.message} at ${f.path.join('.')}`);
    expect(findings).toEqual([]);
  }, 120_000);
});
