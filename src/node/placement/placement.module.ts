import { Module } from '@nestjs/common';
import { IdentityModule } from '../identity/identity.module.js';
import { MembershipModule } from '../membership/membership.module.js';
import { PlacementService } from './placement.service.js';

/** Who owns which partition: rendezvous hashing over the membership view (pure functions in placement.ts). */
@Module({
  imports: [IdentityModule, MembershipModule],
  providers: [PlacementService],
  exports: [PlacementService],
})
export class PlacementModule {}
