import { ENV_SCHEMA } from '../../src/config/env.schema.js';
import { ownersOf } from '../../src/node/placement/placement.js';
import { partitionOf } from '../../src/node/storage/partition.js';

/** PARTITION_BITS when a test does not set it. */
export const DEFAULT_PARTITION_BITS = Number(ENV_SCHEMA.PARTITION_BITS.default);

/**
 * The ids of a key's `n` owners, in rendezvous order, as the nodes themselves compute them (DESIGN §2) over the
 * given member ids: tests check placement from the outside with the nodes' own pure functions.
 */
export function expectedOwners(key: string, memberIds: readonly string[], n: number, bits = DEFAULT_PARTITION_BITS): string[] {
  return ownersOf(partitionOf(key, bits), memberIds.map((id) => ({ id })), n).map((m) => m.id);
}
