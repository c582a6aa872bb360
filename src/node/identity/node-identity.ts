import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodeConfig } from '../../config/app-config.js';
import { atomicWriteFile } from '../../common/fs/atomic-write.js';

/** Who this node is: a stable id (kept in DATA_DIR/node-id) and the URL peers use. */
export class NodeIdentity {
  constructor(
    readonly id: string,
    readonly url: string,
  ) {}
}

/**
 * NODE_ID wins when set; otherwise the id generated on first start is read back, so a node keeps its identity (and so
 * its place in the placement) across restarts.
 */
export async function loadNodeIdentity(config: NodeConfig): Promise<NodeIdentity> {
  await mkdir(config.dataDir, { recursive: true });
  const file = join(config.dataDir, 'node-id');
  let id = config.nodeId;
  if (!id) {
    try {
      id = (await readFile(file, 'utf8')).trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  if (!id) id = `node-${randomBytes(6).toString('hex')}`;
  await atomicWriteFile(file, `${id}\n`);
  return new NodeIdentity(id, config.advertiseUrl);
}
