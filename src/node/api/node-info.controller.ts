import { Controller, Get, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiProblems } from '../../common/http/api-problems.js';
import { ClientAuthGuard } from './client-auth.guard.js';
import { FileItemDto, NodeInfoDto } from './files.dto.js';
import { NodeInfoService } from './node-info.service.js';

@ApiTags('node')
@Controller('v1/node')
export class NodeInfoController {
  constructor(private readonly info: NodeInfoService) {}

  @Get()
  @ApiOperation({ summary: 'This node: id, state, files, space, the membership it sees', description: 'What this node holds and how it sees the cluster: its lifecycle state, live files and bytes, the effective quorums, hints waiting for their owners, the members it merged from every registry and the last anti-entropy round. Needs no token.', operationId: 'getNode' })
  @ApiOkResponse({ type: NodeInfoDto, description: 'this node' })
  get(): Promise<NodeInfoDto> {
    return this.info.describe();
  }

  @Get('quarantine')
  @UseGuards(ClientAuthGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Entries quarantined after a long absence: kept aside, never served (first 1000)', description: 'Entries older than TOMBSTONE_TTL_MS that no co-owner knew when this node came back after a long absence: they may be files deleted meanwhile, so they are neither served nor pushed. For the operator to inspect.', operationId: 'listQuarantine' })
  @ApiOkResponse({ type: [FileItemDto], description: 'the quarantined entries, in key order' })
  @ApiProblems('UNAUTHORIZED')
  quarantine(): FileItemDto[] {
    return this.info.quarantined(1000);
  }
}
