import type { DecommissionDto } from '../../common/protocol/membership.dto.js';

/** A planned removal as the registry persists it (times in ms since the epoch). */
export interface StoredDecommission {
  requestedAt: number;
  /** Set once the node reported that nothing it held is unconfirmed on its owners: it has `left`. */
  leftAt?: number;
  partitionsLeft?: number;
  entriesLeft?: number;
  bytesLeft?: number;
}

export function decommissionView(d: StoredDecommission): DecommissionDto {
  return {
    requestedAt: new Date(d.requestedAt).toISOString(),
    ...(d.leftAt !== undefined ? { leftAt: new Date(d.leftAt).toISOString(), partitionsLeft: 0, entriesLeft: 0, bytesLeft: 0 } : {}),
    ...(d.leftAt === undefined && d.partitionsLeft !== undefined ? { partitionsLeft: d.partitionsLeft } : {}),
    ...(d.leftAt === undefined && d.entriesLeft !== undefined ? { entriesLeft: d.entriesLeft } : {}),
    ...(d.leftAt === undefined && d.bytesLeft !== undefined ? { bytesLeft: d.bytesLeft } : {}),
  };
}
