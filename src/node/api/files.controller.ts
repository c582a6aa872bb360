import { Controller, Delete, Get, Head, HttpCode, Post, Put, Query, Req, Res, StreamableFile, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiCreatedResponse, ApiHeader, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ApiProblems } from '../../common/http/api-problems.js';
import { ClientAuthGuard } from './client-auth.guard.js';
import { FileInfoDto, FileListDto, ListQueryDto } from './files.dto.js';
import { FilesService, type FileResponse } from './files.service.js';

const KEY_PARAM = { name: 'key', type: String, description: 'the file key: 1–1024 bytes of UTF-8, no control characters; `/` allowed (also as %2F)', example: 'docs/hello.txt' };

/** The raw key of `/v1/files/<key>`: taken from the undecoded URL so that `%2F` and `/` both work and are decoded once. */
function rawKey(req: Request): string {
  const path = req.originalUrl.split('?')[0];
  return path.slice(path.indexOf('/v1/files/') + '/v1/files/'.length);
}

function send(res: Response, out: FileResponse): StreamableFile | undefined {
  res.status(out.status);
  // setHeader, not res.set: Express would append a charset to the stored Content-Type.
  for (const [name, value] of Object.entries(out.headers)) res.setHeader(name, value);
  // A stream that fails midway (peer gone, hash mismatch) must cut the connection, never end it cleanly.
  return out.body ? new StreamableFile(out.body).setErrorHandler((_err, r) => r.destroy?.()) : undefined;
}

/** The client API (DESIGN §2). Handlers only translate HTTP to {@link FilesService} calls. */
@ApiTags('files')
@ApiBearerAuth()
@UseGuards(ClientAuthGuard)
@Controller('v1/files')
export class FilesController {
  constructor(private readonly files: FilesService) {}

  @Put('*key')
  @ApiOperation({ summary: 'Upload a file (raw body, streamed)', operationId: 'putFile' })
  @ApiParam(KEY_PARAM)
  @ApiConsumes('application/octet-stream')
  @ApiBody({ description: 'the file bytes; Content-Type is kept', schema: { type: 'string', format: 'binary' } })
  @ApiHeader({ name: 'X-Content-SHA256', required: false, description: 'hex SHA-256 of the body; a mismatch is 400 CHECKSUM_MISMATCH and nothing is stored' })
  @ApiCreatedResponse({ type: FileInfoDto, description: 'stored on `replicas` owners' })
  @ApiProblems('INVALID_KEY', 'CHECKSUM_MISMATCH', 'INCOMPLETE_BODY', 'UNAUTHORIZED', 'FORBIDDEN', 'PAYLOAD_TOO_LARGE', 'INSUFFICIENT_REPLICAS', 'CLOCK_SKEW', 'WRITE_CONFLICT', 'INSUFFICIENT_STORAGE')
  async put(@Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<FileInfoDto> {
    const info = await this.files.put(rawKey(req), req);
    res.status(201).setHeader('ETag', `"${info.sha256}"`);
    return info;
  }

  @Post()
  @ApiOperation({ summary: 'Upload a file from a form (multipart/form-data): for browsers and Swagger UI', operationId: 'postFile' })
  @ApiConsumes('multipart/form-data')
  @ApiBody({
    schema: {
      type: 'object',
      required: ['file'],
      properties: {
        key: { type: 'string', description: 'the key to store under (default: the file name)' },
        file: { type: 'string', format: 'binary' },
      },
    },
  })
  @ApiCreatedResponse({ type: FileInfoDto })
  @ApiProblems('MALFORMED_MULTIPART', 'INVALID_KEY', 'INCOMPLETE_BODY', 'UNAUTHORIZED', 'FORBIDDEN', 'PAYLOAD_TOO_LARGE', 'INSUFFICIENT_REPLICAS', 'CLOCK_SKEW', 'WRITE_CONFLICT', 'INSUFFICIENT_STORAGE')
  async post(@Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<FileInfoDto> {
    const info = await this.files.postForm(req);
    res.status(201).setHeader('ETag', `"${info.sha256}"`);
    return info;
  }

  @Get()
  @ApiOperation({ summary: 'List files in key order (cluster-wide, or this node\'s copies with local=true)', operationId: 'listFiles' })
  @ApiOkResponse({ type: FileListDto })
  @ApiProblems('VALIDATION_FAILED', 'UNAUTHORIZED', 'INSUFFICIENT_REPLICAS')
  list(@Query() query: ListQueryDto): Promise<FileListDto> {
    return this.files.list(query);
  }

  @Get('*key')
  @ApiOperation({ summary: 'Download a file (newest version); one Range gives 206; If-None-Match gives 304', operationId: 'getFile' })
  @ApiParam(KEY_PARAM)
  @ApiHeader({ name: 'Range', required: false, description: 'one range, e.g. bytes=0-1023' })
  @ApiHeader({ name: 'If-None-Match', required: false, description: 'an ETag from an earlier answer' })
  @ApiProduces('application/octet-stream')
  @ApiOkResponse({ description: 'the file bytes', schema: { type: 'string', format: 'binary' } })
  @ApiResponse({ status: 206, description: 'the requested range', schema: { type: 'string', format: 'binary' } })
  @ApiResponse({ status: 304, description: 'not modified' })
  @ApiProblems('INVALID_KEY', 'INVALID_RANGE', 'UNAUTHORIZED', 'NOT_FOUND', 'RANGE_NOT_SATISFIABLE', 'INSUFFICIENT_REPLICAS')
  async get(@Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<StreamableFile | undefined> {
    return send(res, await this.files.get(rawKey(req), req.headers, true));
  }

  @Head('*key')
  @ApiOperation({ summary: 'The headers of a download, without the body', operationId: 'headFile' })
  @ApiParam(KEY_PARAM)
  @ApiOkResponse({ description: 'exists' })
  @ApiResponse({ status: 404, description: 'not found or deleted (no body: this is HEAD)' })
  async head(@Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<void> {
    send(res, await this.files.get(rawKey(req), req.headers, false));
  }

  @Delete('*key')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a file (a tombstone propagated to every owner)', operationId: 'deleteFile' })
  @ApiParam(KEY_PARAM)
  @ApiNoContentResponse({ description: 'deleted' })
  @ApiProblems('INVALID_KEY', 'UNAUTHORIZED', 'FORBIDDEN', 'NOT_FOUND', 'INSUFFICIENT_REPLICAS', 'CLOCK_SKEW', 'WRITE_CONFLICT')
  delete(@Req() req: Request): Promise<void> {
    return this.files.delete(rawKey(req));
  }
}
