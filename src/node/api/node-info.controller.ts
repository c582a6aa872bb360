import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { NodeInfoDto } from './files.dto.js';
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
}
