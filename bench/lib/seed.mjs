// Seeds stopped nodes' metadata stores directly (bench/sync.mjs --seed-above): the same small files, same versions,
// on every node, as if uploads had been replicated everywhere and had settled. Uses the code under test's own
// entry index (dist/node/storage/lmdb-entry-index.js), so digests, counters and inline blobs are exactly what a node keeps.
// Only for measuring a steady state quickly (idle sync rounds at 100k files); it bypasses the HTTP write path.
import path from 'node:path';
import crypto from 'node:crypto';
import { pathToFileURL } from 'node:url';

/**
 * appDir: folder holding dist/ (and node_modules); dataDirs: the stopped nodes' DATA_DIRs.
 * Writes keys `${prefix}-<8-digit index>` for index in [from, from+count), bodies of fileBytes (distinct, real SHA-256).
 */
export async function seedStores(appDir, dataDirs, { prefix, from, count, fileBytes, partitionBits = 10, batch = 2000 }) {
  const dist = path.join(appDir, 'dist', 'node');
  const { LmdbEntryIndex } = await import(pathToFileURL(path.join(dist, 'storage', 'lmdb-entry-index.js')).href);
  const { LmdbEnvironment } = await import(pathToFileURL(path.join(dist, 'storage', 'lmdb-environment.js')).href);
  const { encodeVersion } = await import(pathToFileURL(path.join(dist, 'storage', 'hlc.js')).href);
  const { partitionOf } = await import(pathToFileURL(path.join(dist, 'storage', 'partition.js')).href);
  const envs = dataDirs.map((d) => new LmdbEnvironment(d));
  const stores = envs.map((env) => new LmdbEntryIndex(env));
  const base = crypto.randomBytes(fileBytes);
  const ms = Date.now();
  try {
    for (let start = from; start < from + count; start += batch) {
      const pending = [];
      for (let i = start; i < Math.min(from + count, start + batch); i++) {
        const data = Buffer.from(base);
        data.writeUInt32BE(i, 0);
        crypto.randomFillSync(data, 4, 12);
        const key = `${prefix}-${String(i).padStart(8, '0')}`;
        const entry = {
          key,
          version: encodeVersion(ms, i - from, 'bench-seed'),
          sha256: crypto.createHash('sha256').update(data).digest('hex'),
          size: data.length,
          contentType: 'application/octet-stream',
          updatedAt: ms,
          deleted: false,
        };
        const p = partitionOf(key, partitionBits);
        for (const s of stores) pending.push(s.apply(entry, p, data));
      }
      await Promise.all(pending);
    }
  } finally {
    for (const env of envs) await env.close();
  }
}
