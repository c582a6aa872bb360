import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ClusterTokenGuard } from '../../common/auth/cluster-token.guard.js';
import { ApiProblems } from '../../common/http/api-problems.js';
import { HeartbeatDto, MembershipDto, RegisterNodeDto } from '../../common/protocol/membership.dto.js';
import { RegistryStoreService } from '../membership/registry-store.service.js';

@ApiTags('nodes')
@Controller('v1/nodes')
export class NodesController {
  constructor(private readonly store: RegistryStoreService) {}

  @Post()
  @UseGuards(ClusterTokenGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Register a storage node (or re-register it)', operationId: 'registerNode' })
  @ApiCreatedResponse({ type: MembershipDto, description: 'the membership list after registration' })
  @ApiProblems('VALIDATION_FAILED', 'UNAUTHORIZED', 'PARTITION_BITS_MISMATCH')
  register(@Body() dto: RegisterNodeDto): Promise<MembershipDto> {
    return this.store.register(dto);
  }

  @Put(':id/heartbeat')
  @UseGuards(ClusterTokenGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Heartbeat; answers the membership list and its epoch', operationId: 'heartbeat' })
  @ApiOkResponse({ type: MembershipDto })
  @ApiProblems('VALIDATION_FAILED', 'UNAUTHORIZED', 'NODE_NOT_FOUND')
  heartbeat(@Param('id') id: string, @Body() dto: HeartbeatDto): MembershipDto {
    return this.store.heartbeat(id, dto);
  }

  @Get()
  @ApiOperation({ summary: 'Every known node with its status (up, down, dead)', operationId: 'listNodes' })
  @ApiOkResponse({ type: MembershipDto })
  list(): MembershipDto {
    return this.store.membership();
  }

  @Delete(':id')
  @HttpCode(204)
  @UseGuards(ClusterTokenGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Graceful leave: forget the node', operationId: 'removeNode' })
  @ApiNoContentResponse({ description: 'removed' })
  @ApiProblems('UNAUTHORIZED', 'NODE_NOT_FOUND')
  remove(@Param('id') id: string): Promise<void> {
    return this.store.remove(id);
  }
}
