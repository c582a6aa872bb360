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
