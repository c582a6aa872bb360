import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import { Controller, Delete, Get, Head, HttpCode, Post, Put, Query, Req, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiCreatedResponse, ApiHeader, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { responseHeaders } from '../../common/http/api-headers.js';
import { DirectRoute } from '../../common/http/direct-routes.js';
import { sendJson } from '../../common/http/reply.js';
import { ApiProblems } from '../../common/http/api-problems.js';
import { ClientAuthGuard } from './client-auth.guard.js';
import { FileInfoDto, FileListDto, ListQueryDto } from './files.dto.js';
import { FilesService, type FileResponse } from './files.service.js';

const KEY_PARAM = {
  name: 'key',
  description: 'The file key: 1–1024 bytes of UTF-8 without control characters. It may contain `/`: send it percent-encoded as '
    + '`%2F` (what generated clients do: `docs%2Fa%20b.txt`); `/v1/files/docs/a%20b.txt` reaches the same file. '
    + 'Encode every other reserved character too (`%25` for `%`, `%3F` for `?`, `%23` for `#`); the server decodes the key once.',
  schema: { type: 'string', minLength: 1, maxLength: 1024 },
  example: 'docs/hello.txt',
} as const;

/** What a download carries, on 200, 206 and HEAD. */
const DOWNLOAD_HEADERS = responseHeaders(['etag', 'lastModified', 'contentLength', 'contentType', 'acceptRanges', 'shoalVersion']);
const RANGE_HEADERS = responseHeaders(['etag', 'lastModified', 'contentLength', 'contentType', 'acceptRanges', 'contentRange', 'shoalVersion']);
const NOT_MODIFIED_HEADERS = responseHeaders(['etag', 'lastModified', 'acceptRanges', 'shoalVersion']);
/** Any media type: a download comes back with the Content-Type it was uploaded with. */
const BYTES = { '*/*': { schema: { type: 'string', format: 'binary' } } };

/**
 * The raw key of `/v1/files/<key>`: taken from the undecoded URL so that `%2F` and `/` both work and are decoded once.
 * (`originalUrl` when Express routed the request, which rewrites `url`; a direct route's `url` is as received.)
 */
function rawKey(req: IncomingMessage & { originalUrl?: string }): string {
  const path = (req.originalUrl ?? req.url ?? '').split('?')[0];
  return path.slice(path.indexOf('/v1/files/') + '/v1/files/'.length);
}

/**
 * A download's answer with Node's own response (these handlers are direct routes: no Express helpers). A small file held
 * here inline goes out in one `res.end` — head and body in one write; a stream is piped, and one that fails midway
 * (peer gone, hash mismatch) cuts the connection instead of ending it cleanly; a 304 or a HEAD has no body.
 */
function sendFile(res: ServerResponse, out: FileResponse): void {
  // writeHead with the object: Node validates each header as setHeader would, without building its own header map.
  res.writeHead(out.status, out.headers);
  if (out.data) res.end(out.data);
  else if (out.body) pipeline(out.body, res, () => undefined); // on error pipeline destroys both ends; the observer logs the cut
  else res.end();
}

/** The client API (DESIGN §2). Handlers only translate HTTP to {@link FilesService} calls. */
@ApiTags('files')
@ApiBearerAuth()
@UseGuards(ClientAuthGuard)
@Controller('v1/files')
export class FilesController {
  constructor(private readonly files: FilesService) {}

  @Put('*key')
  @ApiOperation({
    summary: 'Upload a file (raw body, streamed)',
    description: 'The body is the file, streamed to the key\'s owners while it is hashed; the answer comes once W owners hold it durably. '
      + 'Any Content-Type may be sent (it is stored and given back on download); the default is application/octet-stream. '
      + 'Send X-Content-SHA256: a client that mangles the body (some generators send a Blob as `{}`) is then refused with CHECKSUM_MISMATCH instead of storing wrong bytes. '
      + 'Repeating a PUT is safe. 503 INSUFFICIENT_REPLICAS before the body is read means nothing was written.',
    operationId: 'putFile',
  })
  @ApiParam(KEY_PARAM)
  @ApiConsumes('application/octet-stream')
  @ApiBody({ description: 'the file bytes. Any Content-Type may be sent instead of application/octet-stream: it is kept with the file', schema: { type: 'string', format: 'binary' } })
  @ApiHeader({ name: 'X-Content-SHA256', required: false, description: 'hex SHA-256 of the body; a mismatch is 400 CHECKSUM_MISMATCH and nothing is stored', schema: { type: 'string', pattern: '^[0-9a-fA-F]{64}$' } })
  @ApiCreatedResponse({ type: FileInfoDto, description: 'stored on `replicas` owners', headers: responseHeaders(['etag']) })
  @ApiProblems('INVALID_KEY', 'BAD_REQUEST', 'CHECKSUM_MISMATCH', 'INCOMPLETE_BODY', 'UNAUTHORIZED', 'FORBIDDEN', 'PAYLOAD_TOO_LARGE', 'INSUFFICIENT_REPLICAS', 'CLOCK_SKEW', 'WRITE_CONFLICT', 'INSUFFICIENT_STORAGE')
  @DirectRoute()
  async put(@Req() req: IncomingMessage, @Res() res: ServerResponse): Promise<void> {
    const info = await this.files.put(rawKey(req), req);
    sendJson(res, 201, info, { etag: `"${info.sha256}"` });
  }

  @Post()
  @ApiOperation({
    summary: 'Upload a file from a form (multipart/form-data): for browsers and Swagger UI',
    description: 'The same upload as PUT, from a form: the part `file` is streamed (its Content-Type is kept) and `key` names it; without `key` the file name is the key.',
    operationId: 'postFile',
  })
  @ApiConsumes('multipart/form-data')
  @ApiBody({
    schema: {
      type: 'object',
      required: ['file'],
      properties: {
        key: { type: 'string', minLength: 1, maxLength: 1024, description: 'the key to store under (default: the file name)' },
        file: { type: 'string', format: 'binary', description: 'the file; its part\'s Content-Type is kept' },
      },
    },
  })
  @ApiCreatedResponse({ type: FileInfoDto, description: 'stored on `replicas` owners', headers: responseHeaders(['etag']) })
  @ApiProblems('MALFORMED_MULTIPART', 'INVALID_KEY', 'INCOMPLETE_BODY', 'UNAUTHORIZED', 'FORBIDDEN', 'PAYLOAD_TOO_LARGE', 'INSUFFICIENT_REPLICAS', 'CLOCK_SKEW', 'WRITE_CONFLICT', 'INSUFFICIENT_STORAGE')
  async post(@Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<FileInfoDto> {
    const info = await this.files.postForm(req);
    res.status(201).setHeader('ETag', `"${info.sha256}"`);
    return info;
  }

  @Get()
  @ApiOperation({
    summary: 'List files in key order (cluster-wide, or this node\'s copies with local=true)',
    description: 'One page of the newest live version of every key, in key order, deleted files left out. Pass `nextCursor` as `cursor` for the next page; it is null on the last one.',
    operationId: 'listFiles',
  })
  @ApiOkResponse({ type: FileListDto, description: 'one page' })
  @ApiProblems('VALIDATION_FAILED', 'BAD_REQUEST', 'UNAUTHORIZED', 'INSUFFICIENT_REPLICAS')
  list(@Query() query: ListQueryDto): Promise<FileListDto> {
    return this.files.list(query);
  }

  @Get('*key')
  @ApiOperation({
    summary: 'Download a file (newest version); one Range gives 206; If-None-Match gives 304',
    description: 'Streams the newest version from any node (proxied from an owner when this node holds no copy), with the Content-Type it was uploaded with. '
      + 'ETag is `"<sha256>"` of the whole content: compare it with your own hash of the bytes.',
    operationId: 'getFile',
  })
  @ApiParam(KEY_PARAM)
  @ApiHeader({ name: 'Range', required: false, description: 'one range, e.g. bytes=0-1023', schema: { type: 'string' } })
  @ApiHeader({ name: 'If-None-Match', required: false, description: 'an ETag from an earlier answer', schema: { type: 'string' } })
  @ApiOkResponse({ description: 'the file bytes', content: BYTES, headers: DOWNLOAD_HEADERS })
  @ApiResponse({ status: 206, description: 'the requested range', content: BYTES, headers: RANGE_HEADERS })
  @ApiResponse({ status: 304, description: 'not modified: If-None-Match names the current version', headers: NOT_MODIFIED_HEADERS })
  @ApiProblems('INVALID_KEY', 'INVALID_RANGE', 'UNAUTHORIZED', 'NOT_FOUND', 'RANGE_NOT_SATISFIABLE', 'INSUFFICIENT_REPLICAS')
  @DirectRoute()
  async get(@Req() req: IncomingMessage, @Res() res: ServerResponse): Promise<void> {
    sendFile(res, await this.files.get(rawKey(req), req.headers, true));
  }

  @Head('*key')
  @ApiOperation({
    summary: 'The headers of a download, without the body',
    description: 'What GET would answer, headers only: size (Content-Length), ETag (`"<sha256>"`), Content-Type, Last-Modified. Errors carry no body.',
    operationId: 'headFile',
  })
  @ApiParam(KEY_PARAM)
  @ApiHeader({ name: 'Range', required: false, description: 'one range, e.g. bytes=0-1023', schema: { type: 'string' } })
  @ApiHeader({ name: 'If-None-Match', required: false, description: 'an ETag from an earlier answer', schema: { type: 'string' } })
  @ApiOkResponse({ description: 'the file exists', headers: DOWNLOAD_HEADERS })
  @ApiResponse({ status: 206, description: 'the requested range exists', headers: RANGE_HEADERS })
  @ApiResponse({ status: 304, description: 'not modified: If-None-Match names the current version', headers: NOT_MODIFIED_HEADERS })
  @ApiProblems({ head: true }, 'INVALID_KEY', 'INVALID_RANGE', 'UNAUTHORIZED', 'NOT_FOUND', 'RANGE_NOT_SATISFIABLE', 'INSUFFICIENT_REPLICAS')
  @DirectRoute()
  async head(@Req() req: IncomingMessage, @Res() res: ServerResponse): Promise<void> {
    sendFile(res, await this.files.get(rawKey(req), req.headers, false));
  }

  @Delete('*key')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Delete a file (a tombstone propagated to every owner)',
    description: 'Writes a versioned tombstone at W owners; the other owners get it through hinted handoff and anti-entropy. A later upload of the same key wins over it.',
    operationId: 'deleteFile',
  })
  @ApiParam(KEY_PARAM)
  @ApiNoContentResponse({ description: 'deleted' })
  @ApiProblems('INVALID_KEY', 'UNAUTHORIZED', 'FORBIDDEN', 'NOT_FOUND', 'INSUFFICIENT_REPLICAS', 'CLOCK_SKEW', 'WRITE_CONFLICT')
  @DirectRoute()
  async delete(@Req() req: IncomingMessage, @Res() res: ServerResponse): Promise<void> {
    await this.files.delete(rawKey(req));
    res.writeHead(204);
    res.end();
  }
}
