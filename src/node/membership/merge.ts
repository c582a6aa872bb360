import type { MembershipDto, NodeRecordDto, NodeStatus } from '../../common/protocol/membership.dto.js';

/** A member as this node sees it after merging every registry's answer. */
export interface Member {
  id: string;
  url: string;
  zone?: string;
  status: NodeStatus;
  lastHeartbeatAt: string;
  /** Decommission progress, while leaving (as the registry last heard it). */
  decommission?: NodeRecordDto['decommission'];
  freeBytes: number;
  files: number;
}

/**
 * Which status wins when registries disagree. A decommission is an operator's decision that one registry may know
 * before the others (the CLI tells them all), so `left` and `leaving` win; otherwise the most optimistic liveness wins:
 * up, then stopped (announced, expected back), then down, then dead.
 */
const RANK: Record<NodeStatus, number> = { left: 6, leaving: 5, up: 4, stopped: 3, down: 2, dead: 0 };

/**
 * Registries share nothing, so their lists may disagree (DESIGN §2): a node is in the placement if *any* registry
 * lists it as not dead, and up if *any* says up — i.e. the most optimistic status wins (see {@link RANK}), and the
 * newest heartbeat supplies the details.
 */
export function mergeMemberships(lists: MembershipDto[]): Member[] {
  const merged = new Map<string, Member>();
  for (const list of lists) {
    for (const n of list.nodes) {
      const prev = merged.get(n.id);
      const candidate = toMember(n);
      if (!prev) {
        merged.set(n.id, candidate);
        continue;
      }
      const newer = Date.parse(n.lastHeartbeatAt) > Date.parse(prev.lastHeartbeatAt) ? candidate : prev;
      merged.set(n.id, { ...newer, status: RANK[candidate.status] > RANK[prev.status] ? candidate.status : prev.status });
    }
  }
  return [...merged.values()].sort((a, b) => a.id.localeCompare(b.id));
}

function toMember(n: NodeRecordDto): Member {
  return {
    id: n.id,
    url: n.url,
    ...(n.zone ? { zone: n.zone } : {}),
    status: n.status,
    lastHeartbeatAt: n.lastHeartbeatAt,
    freeBytes: n.freeBytes,
    files: n.files,
    ...(n.decommission ? { decommission: n.decommission } : {}),
  };
}

/** Equal when ids, urls, zones and statuses are equal: what placement and sync care about. */
export function sameMembers(a: Member[], b: Member[]): boolean {
  return a.length === b.length && a.every((m, i) => m.id === b[i].id && m.url === b[i].url && m.status === b[i].status && (m.zone ?? '') === (b[i].zone ?? ''));
}
