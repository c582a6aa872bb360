/** What a node reports in its heartbeat; provided by the storage layer under {@link NODE_STATS}. */
export interface NodeStats {
  capacityBytes: number;
  freeBytes: number;
  usedBytes: number;
  files: number;
}

/** What a leaving node still holds: its decommission progress (DESIGN §3 Lifecycle). */
export interface Holdings {
  /** partitions with at least one entry */
  partitions: number;
  /** entries, tombstones included: each one is dropped only once every owner confirmed it */
  entries: number;
  /** bytes of file data */
  bytes: number;
}

export interface NodeStatsSource {
  stats(): Promise<NodeStats>;
  holdings(): Holdings;
}

export const NODE_STATS = Symbol('NODE_STATS');
