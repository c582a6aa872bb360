import { Controller, Get, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ClientAuthGuard } from './client-auth.guard.js';
import { FileItemDto, NodeInfoDto } from './files.dto.js';
import { NodeInfoService } from './node-info.service.js';

@ApiTags('node')
@Controller('v1/node')
export class NodeInfoController {
  constructor(private readonly info: NodeInfoService) {}

  @Get()
  @ApiOperation({ summary: 'This node: id, state, files, space, the membership it sees', operationId: 'getNode' })
  @ApiOkResponse({ type: NodeInfoDto })
  get(): Promise<NodeInfoDto> {
    return this.info.describe();
  }

  @Get('quarantine')
  @UseGuards(ClientAuthGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Entries quarantined after a long absence: kept aside, never served (first 1000)', operationId: 'listQuarantine' })
  @ApiOkResponse({ type: [FileItemDto] })
  quarantine(): FileItemDto[] {
    return this.info.quarantined(1000);
  }
}
