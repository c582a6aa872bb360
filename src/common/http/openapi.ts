import type { INestApplication } from '@nestjs/common';
import express from 'express';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import type { Role } from '../../config/env.schema.js';

const DESCRIPTIONS: Record<Role, string> = {
  registry: 'The Shoal registry: storage nodes register and heartbeat here; it reports who is up, down or dead. '
    + 'Reads need no credentials; writes need the cluster token as a bearer token. Errors are application/problem+json (RFC 9457) with a stable `code`.',
  node: 'A Shoal storage node: upload, download, list and delete files through any node. '
    + 'File bodies are raw bytes (`application/octet-stream` or any other type, which is kept). '
    + 'Send `X-Content-SHA256` with an upload so that a client which mangles binary bodies is refused instead of storing the wrong bytes. '
    + 'Errors are application/problem+json (RFC 9457) with a stable `code`.',
};

/** Every tag each role's operations use, with what it groups: generators turn tags into classes or modules. */
const TAGS: Record<Role, Array<[string, string]>> = {
  node: [
    ['files', 'Upload, download, list and delete files. Any node accepts any key and coordinates the request with the key\'s owners.'],
    ['node', 'What this storage node holds and the membership it sees.'],
    ['operations', 'Liveness, readiness and Prometheus metrics, for orchestrators and monitoring.'],
  ],
  registry: [
    ['nodes', 'Membership: storage nodes register and heartbeat; anyone may read the list.'],
    ['cluster', 'The cluster at a glance: a JSON summary and an HTML status page.'],
    ['operations', 'Liveness, readiness and Prometheus metrics, for orchestrators and monitoring.'],
  ],
};

const DEFAULT_PORT: Record<Role, string> = { registry: '3000', node: '4001' };

/** The role's OpenAPI document, built from the controllers alone (no server needs to listen). */
export function buildOpenApi(app: INestApplication, role: Role, version: string): OpenAPIObject {
  const builder = new DocumentBuilder()
    .setTitle(`Shoal ${role}`)
    .setDescription(DESCRIPTIONS[role])
    .setVersion(version)
    .setLicense('Apache-2.0', 'https://www.apache.org/licenses/LICENSE-2.0')
    // An absolute template: generated clients need a base URL, and "/" gives them none outside a browser.
    .addServer('http://{host}:{port}', role === 'node' ? 'any storage node of the cluster (they all serve the same API)' : 'a registry', {
      host: { default: '127.0.0.1', description: 'host name or address' },
      port: { default: DEFAULT_PORT[role], description: `PORT of the ${role} (\`npm run cluster\` uses ${role === 'node' ? '4001–4003' : '3000'})` },
    })
    // Tokens are opaque shared secrets, not JWTs: addBearerAuth() would claim `bearerFormat: JWT`.
    .addSecurity('bearer', {
      type: 'http',
      scheme: 'bearer',
      description: role === 'node'
        ? 'an opaque token from API_TOKENS (read and write) or API_READ_TOKENS (read only), or the cluster token; not needed when the node has no API_TOKENS'
        : 'the cluster token (CLUSTER_TOKEN), an opaque shared secret',
    });
  for (const [name, description] of TAGS[role]) builder.addTag(name, description);
  const doc = SwaggerModule.createDocument(app, builder.build(), { operationIdFactory: (_c, method) => method });
  // Routes without a guard (health, metrics, reads of the registry) say so explicitly: no credentials needed.
  for (const item of Object.values(doc.paths)) {
    for (const op of [item.get, item.put, item.post, item.delete, item.head, item.patch]) if (op && !op.security) op.security = [];
  }
  return doc;
}

/** Only requests under these prefixes can reach Swagger UI's handlers. */
const DOCS_PATH = /^\/docs(-json)?([/?.]|$)/;

/**
 * Serves Swagger UI at /docs and the document at /docs-json. The served copy lists "/" (the server that answered)
 * before the template, so that "Try it out" calls the node the page came from wherever it is deployed.
 *
 * Swagger registers about ten router layers (static assets, init script, HTML, JSON); left at the front of Express's
 * stack, every client request would be matched against each of them before reaching its own route. They are moved
 * into a router of their own behind a single prefix test, so a file request pays one regex for the docs instead of
 * ten path matches.
 */
export function serveOpenApi(app: INestApplication, document: OpenAPIObject): void {
  const served: OpenAPIObject = { ...document, servers: [{ url: '/', description: 'the server that serves this page' }, ...(document.servers ?? [])] };
  const stack = ((app.getHttpAdapter().getInstance() as express.Express).router as unknown as { stack: unknown[] }).stack;
  const before = stack.length;
  SwaggerModule.setup('docs', app, served, { jsonDocumentUrl: 'docs-json', customSiteTitle: document.info.title });
  const docs = express.Router();
  (docs as unknown as { stack: unknown[] }).stack.push(...stack.splice(before));
  app.use((req: express.Request, res: express.Response, next: express.NextFunction) => (DOCS_PATH.test(req.url) ? docs(req, res, next) : next()));
}
