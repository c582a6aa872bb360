import { Injectable } from '@nestjs/common';
import { NodeIdentity } from '../identity/node-identity.js';
import { MembershipService } from '../membership/membership.service.js';
import { PlacementService } from '../placement/placement.service.js';
import { HandoffService } from '../replication/handoff.service.js';
import { LocalStoreService } from '../storage/local-store.service.js';
import { NodeStateService } from '../state/node-state.service.js';
import { RecoveryService } from '../sync/recovery.service.js';
import { SyncService } from '../sync/sync.service.js';
import type { FileItemDto, NodeInfoDto } from './files.dto.js';

@Injectable()
export class NodeInfoService {
  constructor(
    private readonly self: NodeIdentity,
    private readonly store: LocalStoreService,
    private readonly membership: MembershipService,
    private readonly placement: PlacementService,
    private readonly handoff: HandoffService,
    private readonly state: NodeStateService,
    private readonly sync: SyncService,
    private readonly recovery: RecoveryService,
  ) {}

  async describe(): Promise<NodeInfoDto> {
    const stats = await this.store.stats();
    return {
      id: this.self.id,
      url: this.self.url,
      state: !this.membership.isKnown() ? 'starting' : this.state.current,
      files: stats.files,
      usedBytes: stats.usedBytes,
      freeBytes: stats.freeBytes,
      capacityBytes: stats.capacityBytes,
      quorums: { ...this.placement.effective() },
      handoffPending: this.handoff.pending(),
      members: this.membership.members().map((m) => ({ id: m.id, url: m.url, status: m.status, lastHeartbeatAt: m.lastHeartbeatAt })),
      registries: this.membership.registryStatus(),
      sync: this.sync.status(),
    };
  }

  quarantined(limit: number): FileItemDto[] {
    return this.recovery.listQuarantined(limit).map((e) => ({ key: e.key, size: e.size, sha256: e.sha256, contentType: e.contentType, version: e.version, updatedAt: new Date(e.updatedAt).toISOString() }));
  }
}
