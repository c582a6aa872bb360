import { Body, Controller, Get, Headers, HttpCode, Param, Post, Put, Query, Req, Res, StreamableFile, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ClusterTokenGuard } from '../../common/auth/cluster-token.guard.js';
import { InternalService } from './internal.service.js';
import { EntryDto, FenceRequestDto, FenceResponseDto, PutResultDto, ScanQueryDto, ScanResponseDto, VersionsRequestDto, VersionsResponseDto } from './wire.dto.js';
import { readBody } from './peer-http.js';
import { checkFenceClaims, ENTRY_HEADER, MAX_BATCH_BYTES, type BatchAnswer, type FenceReply, type PutResult } from './wire.js';

/** Node↔node routes (DESIGN §2): always the cluster token; kept out of the client OpenAPI document. */
@ApiExcludeController()
@ApiBearerAuth()
@UseGuards(ClusterTokenGuard)
@Controller('internal')
export class InternalController {
  constructor(private readonly internal: InternalService) {}

  @Put('entries')
  putEntry(@Headers(ENTRY_HEADER) header: string, @Req() req: Request): Promise<PutResultDto> {
    return this.internal.receiveEntry(header, req);
  }

  /** Protocol 2: many small entries in one request, one outcome each (wire.ts ENTRY_BATCH_PATH). */
  @Post('entries/batch')
  @HttpCode(200) // outcomes per entry, not one creation
  async putEntries(@Req() req: Request): Promise<{ results: BatchAnswer<PutResult>[] }> {
    return this.internal.receiveBatch(await readBody(req, MAX_BATCH_BYTES));
  }

  /** Protocol 3: fence claims and small entries in one request (wire.ts WRITE_BATCH_PATH). */
  @Post('writes/batch')
  @HttpCode(200) // outcomes per item, not one creation
  async putWrites(@Req() req: Request): Promise<{ answers: BatchAnswer<FenceReply>[]; results: BatchAnswer<PutResult>[] }> {
    return this.internal.receiveWrites(await readBody(req, MAX_BATCH_BYTES));
  }

  @Post('tombstones')
  putTombstone(@Body() dto: EntryDto): Promise<PutResultDto> {
    return this.internal.applyEntry(dto);
  }

  @Post('fence')
  @HttpCode(200) // a query, not a creation
  fence(@Body() dto: FenceRequestDto): FenceResponseDto {
    return this.internal.fence(dto.key, dto.version, dto.reserve, dto.release);
  }

  /** Protocol 2: many fence proposals in one request (wire.ts FENCE_BATCH_PATH). */
  @Post('fence/batch')
  @HttpCode(200) // a query, not a creation
  fenceMany(@Body() body: unknown): Promise<{ answers: BatchAnswer<FenceReply>[] }> {
    return this.internal.fenceMany(checkFenceClaims(body));
  }

  @Post('versions')
  @HttpCode(200) // a query, not a creation
  versions(@Body() dto: VersionsRequestDto): VersionsResponseDto {
    return this.internal.versions(dto.keys);
  }

  @Get('entries')
  scan(@Query() q: ScanQueryDto): ScanResponseDto {
    return this.internal.scan(q.prefix ?? '', q.after, q.limit ?? 1000);
  }

  @Get('blobs/:sha256')
  async blob(@Param('sha256') sha256: string, @Headers('range') range: string | undefined, @Res({ passthrough: true }) res: Response): Promise<StreamableFile> {
    const out = await this.internal.openBlob(sha256, range);
    res.status(out.status).set(out.headers);
    return new StreamableFile(out.stream).setErrorHandler((_err, r) => r.destroy?.());
  }
}
