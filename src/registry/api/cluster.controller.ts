import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { ClusterSummaryDto } from '../../common/protocol/membership.dto.js';
import { RegistryStoreService } from '../membership/registry-store.service.js';
import { renderStatusPage } from './status-page.js';

@ApiTags('cluster')
@Controller()
export class ClusterController {
  constructor(private readonly store: RegistryStoreService) {}

  @Get('v1/cluster')
  @ApiOperation({ summary: 'Cluster summary: nodes by status, bytes, files', operationId: 'getCluster' })
  @ApiOkResponse({ type: ClusterSummaryDto })
  summary(): ClusterSummaryDto {
    return this.store.summary();
  }

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({ summary: 'HTML status page of the cluster, refreshing itself', operationId: 'getStatusPage' })
  @ApiProduces('text/html')
  @ApiOkResponse({ description: 'self-contained HTML page', schema: { type: 'string' } })
  page(): string {
    return renderStatusPage(this.store.membership(), this.store.summary());
  }
}
