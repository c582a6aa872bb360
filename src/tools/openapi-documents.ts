import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OpenAPIObject } from '@nestjs/swagger';
import { loadConfig } from '../config/app-config.js';
import type { Role } from '../config/env.schema.js';
import { createApp } from '../app.js';

/** Builds each role's OpenAPI document from the code, without listening and without touching a real data dir. */
export async function buildOpenApiDocuments(): Promise<Record<Role, OpenAPIObject>> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-openapi-'));
  try {
    const out = {} as Record<Role, OpenAPIObject>;
    for (const role of ['registry', 'node'] as const) {
      const config = loadConfig({ ROLE: role, CLUSTER_TOKEN: 'x', REGISTRY_URL: 'http://127.0.0.1:3000', DATA_DIR: join(dir, role), NODE_ID: 'openapi', ADVERTISE_URL: 'http://127.0.0.1:4000', LOG_LEVEL: 'silent' });
      const { app, openapi } = await createApp(config, { logger: false });
      out[role] = openapi;
      await app.close();
    }
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Stable serialisation, so the committed files only change when the API does. */
export function serialize(doc: OpenAPIObject): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}
