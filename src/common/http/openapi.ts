import type { INestApplication } from '@nestjs/common';
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

export function serveOpenApi(app: INestApplication, document: OpenAPIObject): void {
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json', customSiteTitle: document.info.title });
}
