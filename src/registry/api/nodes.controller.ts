import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ClusterTokenGuard } from '../../common/auth/cluster-token.guard.js';
import { ApiProblems } from '../../common/http/api-problems.js';
import { HeartbeatDto, MembershipDto, RegisterNodeDto } from '../../common/protocol/membership.dto.js';
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

  @Get()
  @ApiOperation({ summary: 'Every known node with its status', description: 'The membership list as this registry judges it from the heartbeats it receives itself, with its epoch. Needs no token.', operationId: 'listNodes' })
  @ApiOkResponse({ type: MembershipDto, description: 'the membership list' })
  list(): MembershipDto {
    return this.store.membership();
  }

  @Delete(':id')
  @HttpCode(204)
  @UseGuards(ClusterTokenGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Graceful leave: forget the node', description: 'Removes the node from this registry\'s list at once (it leaves the placement without waiting for NODE_DEAD_MS).', operationId: 'removeNode' })
  @ApiParam(ID_PARAM)
  @ApiNoContentResponse({ description: 'removed' })
  @ApiProblems('UNAUTHORIZED', 'NODE_NOT_FOUND')
  remove(@Param('id') id: string): Promise<void> {
    return this.store.remove(id);
  }
}
