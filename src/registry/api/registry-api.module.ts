import { Module } from '@nestjs/common';
import { RegistryMembershipModule } from '../membership/registry-membership.module.js';
import { ClusterController } from './cluster.controller.js';
import { NodesController } from './nodes.controller.js';

/** The registry's HTTP face: /v1/nodes (and its lifecycle routes), /v1/cluster and the status page. */
@Module({
  imports: [RegistryMembershipModule],
  controllers: [NodesController, ClusterController],
})
export class RegistryApiModule {}
