import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ClusterTokenGuard } from '../../common/auth/cluster-token.guard.js';
import { ApiProblems } from '../../common/http/api-problems.js';
import { HeartbeatDto, MembershipDto, NodeRecordDto, RegisterNodeDto } from '../../common/protocol/membership.dto.js';
import { RegistryStoreService } from '../membership/registry-store.service.js';

/** The `{id}` of a node route: the id the node registered with. */
const ID_PARAM = { name: 'id', description: 'the node id, as registered', schema: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' } } as const;

@ApiTags('nodes')
@Controller('v1/nodes')
export class NodesController {
  constructor(private readonly store: RegistryStoreService) {}

  @Post()
  @UseGuards(ClusterTokenGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Register a storage node (or re-register it)', description: 'Called by a node at start-up and whenever a heartbeat answers 404. Re-registering an id updates its URL and zone. A node whose PARTITION_BITS differs from the cluster\'s is refused (409).', operationId: 'registerNode' })
  @ApiCreatedResponse({ type: MembershipDto, description: 'the membership list after registration' })
  @ApiProblems('VALIDATION_FAILED', 'BAD_REQUEST', 'UNAUTHORIZED', 'PARTITION_BITS_MISMATCH')
  register(@Body() dto: RegisterNodeDto): Promise<MembershipDto> {
    return this.store.register(dto);
  }

  @Put(':id/heartbeat')
  @UseGuards(ClusterTokenGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Heartbeat; answers the membership list and its epoch', description: 'Sent by every node every HEARTBEAT_INTERVAL_MS with its free space and file counts; a node silent for NODE_TTL_MS is down. 404 means this registry does not know the node: it registers again.', operationId: 'heartbeat' })
  @ApiParam(ID_PARAM)
  @ApiOkResponse({ type: MembershipDto, description: 'the membership list' })
  @ApiProblems('VALIDATION_FAILED', 'BAD_REQUEST', 'UNAUTHORIZED', 'NODE_NOT_FOUND')
  heartbeat(@Param('id') id: string, @Body() dto: HeartbeatDto): MembershipDto {
    return this.store.heartbeat(id, dto);
  }

  @Post(':id/stop')
  @HttpCode(204)
  @UseGuards(ClusterTokenGuard)
  @ApiBearerAuth()
  @ApiOperation({
    summary: 'A node stopping (SIGTERM) says so: `stopped` at once, keeping its place in the placement',
    description: 'Sent by a node on SIGTERM so that peers hint for it at once instead of waiting for NODE_TTL_MS. A stop is not a leave: the node keeps owning its partitions, and its next heartbeat or registration makes it up again.',
    operationId: 'stopNode',
  })
  @ApiParam(ID_PARAM)
  @ApiNoContentResponse({ description: 'recorded; the next heartbeat or registration makes the node up again' })
  @ApiProblems('UNAUTHORIZED', 'NODE_NOT_FOUND')
  stop(@Param('id') id: string): Promise<void> {
    return this.store.stop(id);
  }

  @Post(':id/decommission')
  @HttpCode(200)
  @UseGuards(ClusterTokenGuard)
  @ApiBearerAuth()
  @ApiParam({ ...ID_PARAM, description: 'the node to remove' })
  @ApiOperation({
    summary: 'Start a planned removal: the node turns leaving, hands its partitions to their new owners, then turns left',
    description: 'The placement computes new owners without the node; they pull its partitions, and once every entry it held is confirmed on its new owners it becomes `left` and may be shut down for good. Idempotent while leaving; 409 CONFLICT once it has left or when it is dead.',
    operationId: 'decommissionNode',
  })
  @ApiOkResponse({ type: NodeRecordDto, description: 'the node, now leaving (idempotent)' })
  @ApiProblems('UNAUTHORIZED', 'NODE_NOT_FOUND', 'CONFLICT')
  decommission(@Param('id') id: string): Promise<NodeRecordDto> {
    return this.store.decommission(id);
  }

  @Delete(':id/decommission')
  @UseGuards(ClusterTokenGuard)
  @ApiBearerAuth()
  @ApiParam({ ...ID_PARAM, description: 'the leaving node' })
  @ApiOperation({
    summary: 'Cancel a decommission under way: the node is up again and owns partitions again',
    description: 'Only while the node is leaving: 409 CONFLICT when no decommission is under way or the node has already left.',
    operationId: 'cancelDecommission',
  })
  @ApiOkResponse({ type: NodeRecordDto, description: 'the node, no longer leaving' })
  @ApiProblems('UNAUTHORIZED', 'NODE_NOT_FOUND', 'CONFLICT')
  cancelDecommission(@Param('id') id: string): Promise<NodeRecordDto> {
    return this.store.cancelDecommission(id);
  }

  @Get()
  @ApiOperation({ summary: 'Every known node with its status (up, down, stopped, leaving, left, dead) and decommission progress', description: 'The membership list as this registry judges it from the heartbeats it receives itself, with its epoch. Needs no token.', operationId: 'listNodes' })
  @ApiOkResponse({ type: MembershipDto, description: 'the membership list' })
  list(): MembershipDto {
    return this.store.membership();
  }

  @Delete(':id')
  @HttpCode(204)
  @UseGuards(ClusterTokenGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Forget a node that holds nothing the others lack (left or dead); refused otherwise', description: 'Removes a left or dead node from this registry\'s list. A node that may still hold the only copy of something (up, down, stopped, leaving) is refused with 409 NODE_HOLDS_DATA: decommission it first.', operationId: 'removeNode' })
  @ApiParam(ID_PARAM)
  @ApiNoContentResponse({ description: 'removed' })
  @ApiProblems('UNAUTHORIZED', 'NODE_NOT_FOUND', 'NODE_HOLDS_DATA')
  remove(@Param('id') id: string): Promise<void> {
    return this.store.remove(id);
  }
}
