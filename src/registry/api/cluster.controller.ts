import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { ClusterSummaryDto } from '../../common/protocol/membership.dto.js';
import { responseHeaders } from '../../common/http/api-headers.js';
import { RegistryStoreService } from '../membership/registry-store.service.js';
import { renderStatusPage } from './status-page.js';

@ApiTags('cluster')
@Controller()
export class ClusterController {
  constructor(private readonly store: RegistryStoreService) {}

  @Get('v1/cluster')
  @ApiOperation({ summary: 'Cluster summary: nodes by status, bytes, files', description: 'Counts of nodes by status and the sums of what the nodes report in their heartbeats, as this registry sees them. Needs no token.', operationId: 'getCluster' })
  @ApiOkResponse({ type: ClusterSummaryDto, description: 'the summary' })
  summary(): ClusterSummaryDto {
    return this.store.summary();
  }

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({ summary: 'HTML status page of the cluster, refreshing itself', description: 'A self-contained page (no script or style from elsewhere) of the nodes and the summary, for people; it reloads itself every few seconds.', operationId: 'getStatusPage' })
  @ApiProduces('text/html')
  @ApiOkResponse({ description: 'self-contained HTML page', schema: { type: 'string' }, headers: responseHeaders(['cacheControl']) })
  page(): string {
    return renderStatusPage(this.store.membership(), this.store.summary());
  }
}
