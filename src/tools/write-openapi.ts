import 'reflect-metadata';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { buildOpenApiDocuments, serialize } from './openapi-documents.js';

/** `npm run openapi`: writes openapi/{registry,node}.json; with --check, exits 1 when they differ from the code. */
async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const docs = await buildOpenApiDocuments();
  await mkdir('openapi', { recursive: true });
  let drift = false;
  for (const [role, doc] of Object.entries(docs)) {
    const file = `openapi/${role}.json`;
    const text = serialize(doc);
    if (check) {
      const committed = await readFile(file, 'utf8').catch(() => '');
      if (committed !== text) {
        drift = true;
        process.stderr.write(`${file} is out of date: run npm run openapi\n`);
      }
    } else {
      await writeFile(file, text);
      process.stdout.write(`wrote ${file}\n`);
    }
  }
  process.exit(drift ? 1 : 0);
}

void main();
