import type { NodeIdentity } from '../identity/node-identity.js';
import type { NodeInfoSection } from '../info/node-info-section.js';
import type { NodeStateService } from '../state/node-state.service.js';
import type { MembershipService } from './membership.service.js';

/** Who this node is, where it stands in its lifecycle, and the membership it merged from every registry. */
export function membershipInfo(self: NodeIdentity, membership: MembershipService, state: NodeStateService): NodeInfoSection {
  return {
    name: 'membership',
    describe: () => ({
      id: self.id,
      url: self.url,
      // Before any registry answered, the node cannot tell what it owns: it is still starting.
      state: !membership.isKnown() ? 'starting' : state.current,
      members: membership.members().map((m) => ({ id: m.id, url: m.url, status: m.status, lastHeartbeatAt: m.lastHeartbeatAt })),
      registries: membership.registryStatus(),
    }),
  };
}
