import { readFile } from 'node:fs/promises';
import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript';

/**
 * src/client/generated/*.ts are written by `npm run client` (the openapi-typescript CLI) from the committed
 * openapi/*.json. Regenerating them here in memory, exactly as the CLI does (its header, then the printed AST), shows
 * when someone changed the API (and ran `npm run openapi`) but not the client, or edited a generated file by hand.
 */
describe('generated client types', () => {
  it.each(['node', 'registry'] as const)('%s: src/client/generated matches openapi/ (else run `npm run client`)', async (role) => {
    const generated = COMMENT_HEADER + astToString(await openapiTS(new URL(`../../openapi/${role}.json`, import.meta.url), { silent: true }));
    const committed = await readFile(new URL(`../../src/client/generated/${role}.ts`, import.meta.url), 'utf8');
    expect(committed).toBe(generated);
  });
});
