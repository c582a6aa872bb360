import type { Cluster } from './start-cluster.js';

/** Runs a test body; on failure the last log lines of every process are added to the error. */
export function withLogs(cluster: () => Cluster | undefined, body: () => Promise<void>): () => Promise<void> {
  return async () => {
    try {
      await body();
    } catch (err) {
      const c = cluster();
      if (c && err instanceof Error) {
        const logs = [...c.registries, ...c.nodes].map((p) => `--- ${p.name} (${p.url})\n${p.logs().split('\n').slice(-40).join('\n')}`);
        err.message += `\n\nprocess logs:\n${logs.join('\n')}`;
      }
      throw err;
    }
  };
}
