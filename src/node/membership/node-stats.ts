/** What a node reports in its heartbeat; provided by the storage layer under {@link NODE_STATS}. */
export interface NodeStats {
  capacityBytes: number;
  freeBytes: number;
  usedBytes: number;
  files: number;
}

export interface NodeStatsSource {
  stats(): Promise<NodeStats>;
}

export const NODE_STATS = Symbol('NODE_STATS');
