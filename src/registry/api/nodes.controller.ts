import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiConflictResponse, ApiCreatedResponse, ApiNoContentResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { ClusterTokenGuard } from '../../common/auth/cluster-token.guard.js';
import { ProblemDto } from '../../common/http/problem.dto.js';
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
  @ApiUnauthorizedResponse({ type: ProblemDto })
  @ApiConflictResponse({ type: ProblemDto, description: 'PARTITION_BITS_MISMATCH' })
  register(@Body() dto: RegisterNodeDto): Promise<MembershipDto> {
    return this.store.register(dto);
  }

  @Put(':id/heartbeat')
  @UseGuards(ClusterTokenGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Heartbeat; answers the membership list and its epoch', operationId: 'heartbeat' })
  @ApiOkResponse({ type: MembershipDto })
  @ApiNotFoundResponse({ type: ProblemDto, description: 'NODE_NOT_FOUND: the node must register again' })
  @ApiUnauthorizedResponse({ type: ProblemDto })
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
  @ApiNotFoundResponse({ type: ProblemDto })
  @ApiUnauthorizedResponse({ type: ProblemDto })
  remove(@Param('id') id: string): Promise<void> {
    return this.store.remove(id);
  }
}
