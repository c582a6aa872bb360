import { readFile } from 'node:fs/promises';
import { ENV_SCHEMA, ENV_VAR_NAMES } from '../../src/config/env.schema.js';

describe('README', () => {
  let readme: string;
  beforeAll(async () => {
    readme = await readFile('README.md', 'utf8');
  });

  it('shows the two commands at the top', () => {
    const top = readme.split('\n').slice(0, 30).join('\n');
    expect(top).toContain('npm ci && npm run cluster');
    expect(top).toContain('npm ci && npm test');
  });

  it.each(ENV_VAR_NAMES)('documents %s in the configuration table, with its roles', (name) => {
    const row = readme.split('\n').find((l) => l.startsWith(`| \`${name}\``));
    expect(row).toBeDefined();
    for (const role of ENV_SCHEMA[name].roles) expect(row).toMatch(new RegExp(ENV_SCHEMA[name].roles.length === 2 ? 'both' : role));
  });
});
