import type { NodeStatus } from '../../common/protocol/membership.dto.js';

/**
 * A node is `up` while its heartbeats arrive, `down` after `ttlMs` without one (skipped for I/O, still owns its data)
 * and `dead` after `deadMs` (leaves the placement; its data is re-replicated). Pure, so it is tested by table.
 */
export function livenessOf(lastHeartbeatMs: number, nowMs: number, ttlMs: number, deadMs: number): NodeStatus {
  const silent = nowMs - lastHeartbeatMs;
  if (silent >= deadMs) return 'dead';
  if (silent >= ttlMs) return 'down';
  return 'up';
}

/** What the registry knows of a node beyond its heartbeats: an announced stop, a planned removal. */
export interface Lifecycle {
  /** The node said it is stopping (SIGTERM) and has not heartbeated since. */
  stopped?: boolean;
  /** A decommission is under way (`leaving`) or complete (`left`). */
  decommission?: 'leaving' | 'left';
}

/**
 * The status the registry reports (DESIGN §2–§3). A `left` node stays `left` (it holds nothing, silent or not). Any
 * other node silent for `deadMs` is `dead` — a stopped node that never comes back, or a leaving one that died mid-way,
 * is re-replicated from the surviving copies. Otherwise `leaving` and `stopped` are what the operator or the node said,
 * and liveness decides between `up` and `down`.
 */
export function statusOf(lastHeartbeatMs: number, nowMs: number, ttlMs: number, deadMs: number, lifecycle: Lifecycle = {}): NodeStatus {
  if (lifecycle.decommission === 'left') return 'left';
  const liveness = livenessOf(lastHeartbeatMs, nowMs, ttlMs, deadMs);
  if (liveness === 'dead') return 'dead';
  if (lifecycle.decommission === 'leaving') return 'leaving';
  if (lifecycle.stopped) return 'stopped';
  return liveness;
}
