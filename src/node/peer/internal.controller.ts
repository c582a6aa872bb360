import type { IncomingMessage, ServerResponse } from 'node:http';
import { Body, Controller, Get, Headers, HttpCode, Param, Post, Put, Query, Req, Res, StreamableFile, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { ClusterTokenGuard } from '../../common/auth/cluster-token.guard.js';
import { DirectRoute } from '../../common/http/direct-routes.js';
import { sendJson } from '../../common/http/reply.js';
import { InternalService } from './internal.service.js';
import { EntryDto, FenceRequestDto, FenceResponseDto, PutResultDto, ScanQueryDto, ScanResponseDto } from './wire.dto.js';
import { readBody, readJson } from './peer-http.js';
import { checkFenceClaims, checkVersionKeys, ENTRY_HEADER, MAX_BATCH_BYTES } from './wire.js';

/** Node↔node routes (DESIGN §2): always the cluster token; kept out of the client OpenAPI document. */
@ApiExcludeController()
@ApiBearerAuth()
@UseGuards(ClusterTokenGuard)
@Controller('internal')
export class InternalController {
  constructor(private readonly internal: InternalService) {}

  // The routes every replicated write and read takes are direct (common/http/direct-routes.ts): they read their own
  // bodies and check them by hand (wire.ts), as the validation pipe's cost per item exceeded the work on the item.

  @Put('entries')
  @DirectRoute()
  async putEntry(@Req() req: IncomingMessage, @Res() res: ServerResponse): Promise<void> {
    sendJson(res, 200, await this.internal.receiveEntry(String(req.headers[ENTRY_HEADER] ?? ''), req));
  }

  /** Protocol 2: many small entries in one request, one outcome each (wire.ts ENTRY_BATCH_PATH). */
  @Post('entries/batch')
  @DirectRoute()
  async putEntries(@Req() req: IncomingMessage, @Res() res: ServerResponse): Promise<void> {
    sendJson(res, 200, await this.internal.receiveBatch(await readBody(req, MAX_BATCH_BYTES)));
  }

  /** Protocol 3: fence claims and small entries in one request (wire.ts WRITE_BATCH_PATH). */
  @Post('writes/batch')
  @DirectRoute()
  async putWrites(@Req() req: IncomingMessage, @Res() res: ServerResponse): Promise<void> {
    sendJson(res, 200, await this.internal.receiveWrites(await readBody(req, MAX_BATCH_BYTES)));
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
  @DirectRoute()
  async fenceMany(@Req() req: IncomingMessage, @Res() res: ServerResponse): Promise<void> {
    sendJson(res, 200, await this.internal.fenceMany(checkFenceClaims(await readJson(req, MAX_BATCH_BYTES))));
  }

  /** The version query of every read with R > 1 (batched per peer: BatchingPeerClient). */
  @Post('versions')
  @DirectRoute()
  async versions(@Req() req: IncomingMessage, @Res() res: ServerResponse): Promise<void> {
    sendJson(res, 200, this.internal.versions(checkVersionKeys(await readJson(req, MAX_BATCH_BYTES))));
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
