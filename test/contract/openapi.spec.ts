import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import 'reflect-metadata';
import { buildOpenApiDocuments, serialize } from '../../src/tools/openapi-documents.js';

const run = promisify(execFile);

describe('OpenAPI documents', () => {
  it('the committed openapi/*.json match the code (run `npm run openapi` after changing the API)', async () => {
    const docs = await buildOpenApiDocuments();
    for (const role of ['registry', 'node'] as const) {
      const committed = await readFile(`openapi/${role}.json`, 'utf8');
      expect(JSON.parse(committed)).toEqual(JSON.parse(serialize(docs[role])));
    }
  });

  it('have real schemas for every JSON response and keep internal routes out', async () => {
    const node = JSON.parse(await readFile('openapi/node.json', 'utf8'));
    expect(Object.keys(node.paths).some((p) => p.startsWith('/internal'))).toBe(false);
    expect(node.paths['/v1/files/{key}'].put.requestBody.content['application/octet-stream'].schema).toEqual({ type: 'string', format: 'binary' });
    expect(node.paths['/v1/files'].post.requestBody.content['multipart/form-data'].schema.properties.file).toEqual({ type: 'string', format: 'binary' });
    for (const [name, schema] of Object.entries<{ properties?: object }>(node.components.schemas)) {
      expect([name, Object.keys(schema.properties ?? {}).length > 0]).toEqual([name, true]);
    }
    expect(node.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('pass a maintained OpenAPI linter (Redocly, recommended rules) without errors', async () => {
    const { stdout, stderr } = await run('npx', ['redocly', 'lint', 'openapi/node.json', 'openapi/registry.json', '--format=summary'], { env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } });
    expect(`${stdout}${stderr}`).toMatch(/Your API descriptions are valid/);
  }, 120_000);
});
