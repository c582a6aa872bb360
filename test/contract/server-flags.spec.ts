import { readFile } from 'node:fs/promises';
import { SERVER_NODE_FLAGS } from '../../src/tools/server-flags.js';

// The server flags are written in three places that cannot import them: the spawner (which does), `npm start` and
// the image's NODE_OPTIONS. This keeps the last two the same list as the first.
describe('server Node flags', () => {
  it('are what `npm start` passes', async () => {
    const pkg = JSON.parse(await readFile('package.json', 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe(['node', ...SERVER_NODE_FLAGS, 'dist/main.js'].join(' '));
  });

  it("are the Dockerfile's NODE_OPTIONS, and its command adds none", async () => {
    const dockerfile = await readFile('Dockerfile', 'utf8');
    expect(/^ENV NODE_OPTIONS="([^"]*)"$/m.exec(dockerfile)?.[1]).toBe(SERVER_NODE_FLAGS.join(' '));
    expect(dockerfile).toMatch(/^CMD \["node", "dist\/main\.js"\]$/m);
  });
});
