import { Inject, Injectable } from '@nestjs/common';
import { ShoalError } from '../../common/errors.js';
import { NodeIdentity } from '../identity/node-identity.js';
import { MembershipService } from '../membership/membership.service.js';
import { PlacementService } from '../placement/placement.service.js';
import { compareVersions } from '../storage/hlc.js';
import { compareKeys } from '../storage/keys.js';
import type { Entry } from '../storage/entry.js';
import { LocalStoreService } from '../storage/local-store.service.js';
import { PEER_CLIENT, type PeerClient } from '../peer/peer-client.js';

export interface Page {
  items: Entry[];
  more: boolean;
}

/** Pages fetched from each node per merge step; tombstones count, so a page of many deletes still moves forward. */
const SCAN_PAGE = 500;
/** Bound on merge steps for one client page (each step advances past SCAN_PAGE entries of some node). */
const MAX_STEPS = 50;

/**
 * Cluster-wide listing (DESIGN §2): every reachable node's local entries merged by key, the newest version of each
 * key winning and tombstones dropped. Because each key lives on N nodes, the listing stays complete while fewer than
 * N nodes are unreachable.
 */
@Injectable()
export class ListingService {
  constructor(
    private readonly self: NodeIdentity,
    private readonly store: LocalStoreService,
    private readonly membership: MembershipService,
    private readonly placement: PlacementService,
    @Inject(PEER_CLIENT) private readonly peers: PeerClient,
  ) {}

  listLocal(prefix: string, after: string | undefined, limit: number): Page {
    const items = this.store.listLive(prefix, after, limit + 1);
    return { items: items.slice(0, limit), more: items.length > limit };
  }

  async listCluster(prefix: string, after: string | undefined, limit: number): Promise<Page> {
    const members = this.membership.placementMembers().filter((m) => m.id !== this.self.id);
    const others = members.filter((m) => m.status === 'up');
    // Down members hold copies too: they count as unanswered, or keys whose owners are all down would silently vanish.
    const down = members.length - others.length;
    const items: Entry[] = [];
    let cursor = after;
    for (let step = 0; step < MAX_STEPS; step++) {
      const pages = await Promise.allSettled([
        Promise.resolve(this.store.scanPage(prefix, cursor, SCAN_PAGE)),
        ...others.map((m) => this.peers.scan(m, prefix, cursor, SCAN_PAGE)),
      ]);
      const failed = down + pages.filter((p) => p.status === 'rejected').length;
      if (failed >= this.placement.effective().n) {
        throw new ShoalError('INSUFFICIENT_REPLICAS', `${failed} nodes did not answer; the listing would be incomplete`, { retryAfter: 2 }, { 'Retry-After': '2' });
      }
      const newest = new Map<string, Entry>();
      let boundary: string | undefined;
      for (const p of pages) {
        if (p.status !== 'fulfilled') continue;
        const { entries, truncated } = p.value;
        for (const e of entries) {
          const prev = newest.get(e.key);
          if (!prev || compareVersions(e.version, prev.version) > 0) newest.set(e.key, e);
        }
        // Past the last key of a truncated page this node's entries are unknown: merge only up to the smallest such key.
        if (truncated && entries.length > 0) {
          const last = entries[entries.length - 1].key;
          if (boundary === undefined || compareKeys(last, boundary) < 0) boundary = last;
        }
      }
      // LMDB's order (UTF-8 bytes), not JavaScript's UTF-16 one, or the cursor would skip keys.
      const keys = [...newest.keys()].filter((k) => boundary === undefined || compareKeys(k, boundary) <= 0).sort(compareKeys);
      for (const k of keys) {
        const e = newest.get(k)!;
        if (e.deleted) continue;
        items.push(e);
        // One more than asked tells whether a next page exists, so the last page carries no cursor.
        if (items.length > limit) return { items: items.slice(0, limit), more: true };
      }
      if (boundary === undefined) return { items, more: false };
      cursor = boundary;
    }
    return { items, more: true };
  }
}
