import { Body, Controller, Get, Headers, HttpCode, Param, ParseIntPipe, Post, Query, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { ClusterTokenGuard } from '../../common/auth/cluster-token.guard.js';
import { SyncEndpoint } from './sync-answers.js';
import { DigestRequestDto, ScanQueryDto } from './wire.dto.js';
import { RECOVERING_HEADER, type DigestAnswer, type EntryPage } from './wire.js';

/** The peer side of anti-entropy (node↔node, cluster token). */
@ApiExcludeController()
@UseGuards(ClusterTokenGuard)
@Controller('internal/sync')
export class SyncInternalController {
  constructor(private readonly sync: SyncEndpoint) {}

  @Post('digests')
  @HttpCode(200) // a comparison, not a creation
  digests(@Body() dto: DigestRequestDto, @Headers(RECOVERING_HEADER) recovering?: string): DigestAnswer {
    return this.sync.answerDigests(dto.partitions, dto.root, recovering === '1');
  }

  @Get('partitions/:partition')
  entries(@Param('partition', ParseIntPipe) partition: number, @Query() q: ScanQueryDto, @Headers(RECOVERING_HEADER) recovering?: string): EntryPage {
    return this.sync.answerEntries(partition, q.after, q.limit ?? 1000, recovering === '1');
  }
}
