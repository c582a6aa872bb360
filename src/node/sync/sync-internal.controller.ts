import { Body, Controller, Get, Headers, HttpCode, Param, ParseIntPipe, Post, Query, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { IsString, MaxLength } from 'class-validator';
import { ClusterTokenGuard } from '../../common/auth/cluster-token.guard.js';
import { ScanQueryDto } from '../internal/internal.dto.js';
import { AntiEntropyService } from './anti-entropy.service.js';
import { RECOVERING_HEADER } from '../replication/peer-client.service.js';

export class DigestRequestDto {
  @IsString() @MaxLength(16384) partitions!: string;
  @IsString() @MaxLength(64) root!: string;
}

/** The peer side of anti-entropy (node↔node, cluster token). */
@ApiExcludeController()
@UseGuards(ClusterTokenGuard)
@Controller('internal/sync')
export class SyncInternalController {
  constructor(private readonly sync: AntiEntropyService) {}

  @Post('digests')
  @HttpCode(200) // a comparison, not a creation
  digests(@Body() dto: DigestRequestDto, @Headers(RECOVERING_HEADER) recovering?: string): { equal: boolean; digests?: Record<string, string> } {
    return this.sync.answerDigests(dto.partitions, dto.root, recovering === '1');
  }

  @Get('partitions/:partition')
  entries(@Param('partition', ParseIntPipe) partition: number, @Query() q: ScanQueryDto, @Headers(RECOVERING_HEADER) recovering?: string): ReturnType<AntiEntropyService['answerEntries']> {
    return this.sync.answerEntries(partition, q.after, q.limit ?? 1000, recovering === '1');
  }
}
