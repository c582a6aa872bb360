import { Inject, Injectable } from '@nestjs/common';
import { NODE_INFO_FIELDS, NODE_INFO_SECTIONS, type NodeInfoReport, type NodeInfoSection } from '../info/node-info-section.js';
import { RecoveryService } from '../sync/recovery.service.js';
import type { FileItemDto, NodeInfoDto } from './files.dto.js';

/** Fields a section may leave out (they are optional in the OpenAPI document too). */
const OPTIONAL = new Set<keyof NodeInfoReport>(['sync']);

/** `GET /v1/node`: assembled from what each layer reports (see info/node-info-section.ts), in one fixed field order. */
@Injectable()
export class NodeInfoService {
  constructor(
    @Inject(NODE_INFO_SECTIONS) private readonly sections: NodeInfoSection[],
    private readonly recovery: RecoveryService,
  ) {}

  async describe(): Promise<NodeInfoDto> {
    const parts = await Promise.all(this.sections.map((s) => s.describe()));
    const merged: Partial<NodeInfoReport> = Object.assign({}, ...parts);
    const out: Record<string, unknown> = {};
    for (const field of NODE_INFO_FIELDS) {
      if (merged[field] !== undefined) out[field] = merged[field];
      else if (!OPTIONAL.has(field)) throw new Error(`no section of the node reports "${field}"`);
    }
    return out as unknown as NodeInfoDto;
  }

  quarantined(limit: number): FileItemDto[] {
    return this.recovery.listQuarantined(limit).map((e) => ({ key: e.key, size: e.size, sha256: e.sha256, contentType: e.contentType, version: e.version, updatedAt: new Date(e.updatedAt).toISOString() }));
  }
}
