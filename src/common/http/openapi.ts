import type { INestApplication } from '@nestjs/common';
import express from 'express';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import type { Role } from '../../config/env.schema.js';

const DESCRIPTIONS: Record<Role, string> = {
  registry: 'The Shoal registry: storage nodes register and heartbeat here; it reports who is up, down or dead.',
  node: 'A Shoal storage node: upload, download, list and delete files through any node. Errors are application/problem+json with a stable `code`.',
};

/** The role's OpenAPI document, built from the controllers alone (no server needs to listen). */
export function buildOpenApi(app: INestApplication, role: Role, version: string): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle(`Shoal ${role}`)
    .setDescription(DESCRIPTIONS[role])
    .setVersion(version)
    .setLicense('Apache-2.0', 'https://www.apache.org/licenses/LICENSE-2.0')
    .addServer('/', 'this server')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: role === 'node' ? 'a client token from API_TOKENS / API_READ_TOKENS, or the cluster token' : 'the cluster token' })
    .build();
  const doc = SwaggerModule.createDocument(app, config, { operationIdFactory: (_c, method) => method });
  // Routes without a guard (health, metrics, reads of the registry) say so explicitly: no credentials needed.
  for (const item of Object.values(doc.paths)) {
    for (const op of [item.get, item.put, item.post, item.delete, item.head, item.patch]) if (op && !op.security) op.security = [];
  }
  return doc;
}

/** Only requests under these prefixes can reach Swagger UI's handlers. */
const DOCS_PATH = /^\/docs(-json)?([/?.]|$)/;

/**
 * Serves Swagger UI at /docs and the document at /docs-json. Swagger registers about ten router layers (static
 * assets, init script, HTML, JSON); left at the front of Express's stack, every client request would be matched
 * against each of them before reaching its own route. They are moved into a router of their own behind a single
 * prefix test, so a file request pays one regex for the docs instead of ten path matches.
 */
export function serveOpenApi(app: INestApplication, document: OpenAPIObject): void {
  const stack = ((app.getHttpAdapter().getInstance() as express.Express).router as unknown as { stack: unknown[] }).stack;
  const before = stack.length;
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json', customSiteTitle: document.info.title });
  const docs = express.Router();
  (docs as unknown as { stack: unknown[] }).stack.push(...stack.splice(before));
  app.use((req: express.Request, res: express.Response, next: express.NextFunction) => (DOCS_PATH.test(req.url) ? docs(req, res, next) : next()));
}
