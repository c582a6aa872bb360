import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { ShoalError } from '../../common/errors.js';
import { NodeIdentity } from '../identity/node-identity.js';
import type { Member } from '../membership/merge.js';
import { PlacementService } from '../placement/placement.service.js';
import { NodeStateService } from '../state/node-state.service.js';
import type { StageOptions } from '../storage/staging.js';

/** The owners of a write's key and the acknowledgements it needs. */
export interface WriteTarget {
  owners: Member[];
  w: number;
}

/** What a client says of an upload's body before it is read. */
export interface BodyLimits {
  declaredLength?: number;
  expectedSha256?: string;
}

/**
 * Whether a write may start here, decided before its body is read (DESIGN §3 Upload): this node may coordinate
 * writes (not decommissioned, clock in bounds), W of the key's owners are up, and the declared size is allowed.
 * A refused write has sent nothing anywhere.
 */
@Injectable()
export class WriteAdmissionService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: NodeConfig,
    private readonly self: NodeIdentity,
    private readonly placement: PlacementService,
    private readonly state: NodeStateService,
  ) {}

  /** The key's owners, or 503 (INSUFFICIENT_REPLICAS, CLOCK_SKEW, NODE_LEFT) with nothing written. */
  target(key: string): WriteTarget {
    this.state.assertMayCoordinateWrite();
    const owners = this.placement.ownersOfKey(key);
    const { w } = this.placement.effective();
    const up = owners.filter((o) => o.id === this.self.id || o.status === 'up').length;
    if (up < w) {
      throw new ShoalError('INSUFFICIENT_REPLICAS', `only ${up} of the ${owners.length} owners of this key are up; ${w} are needed; nothing was written`, { retryAfter: 5 }, { 'Retry-After': '5' });
    }
    return { owners, w };
  }

  /** 413 before the body is read when its declared length exceeds MAX_OBJECT_BYTES. */
  checkDeclaredLength(declaredLength: number | undefined): void {
    if (this.config.maxObjectBytes !== undefined && declaredLength !== undefined && declaredLength > this.config.maxObjectBytes) {
      throw new ShoalError('PAYLOAD_TOO_LARGE', `the upload is ${declaredLength} bytes; MAX_OBJECT_BYTES is ${this.config.maxObjectBytes}`);
    }
  }

  /** How a body is staged: its declared length and checksum are verified, MAX_OBJECT_BYTES enforced as it arrives. */
  stageOptions(limits: BodyLimits): StageOptions {
    return { declaredLength: limits.declaredLength, expectedSha256: limits.expectedSha256, maxBytes: this.config.maxObjectBytes };
  }
}
