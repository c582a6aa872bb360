import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { IsBoolean, IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { INT64, INTEGER } from '../../common/http/api-headers.js';
import { NODE_STATUSES } from '../../common/protocol/membership.dto.js';
import type { MemberReport, NodeInfoReport, RegistryReport, SyncReport } from '../info/node-info-section.js';

export class FileInfoDto {
  @ApiProperty({ example: 'photos/cat.jpg' }) key!: string;
  @ApiProperty({ ...INT64, minimum: 0, example: 52431, description: 'bytes' }) size!: number;
  @ApiProperty({ example: 'a3f1c0…', description: 'hex SHA-256 of the content' }) sha256!: string;
  @ApiProperty({ example: 'image/jpeg' }) contentType!: string;
  @ApiProperty({ example: '019ab3c2d4e5.000000.node-1', description: 'hybrid-logical-clock version; newer versions sort higher' }) version!: string;
  @ApiProperty({ ...INTEGER, minimum: 1, example: 3, description: 'owners that hold the file durably when the answer was sent' }) replicas!: number;
  @ApiProperty({ example: ['node-1', 'node-2', 'node-3'], type: [String], description: 'ids of the nodes that hold it' }) nodes!: string[];
}

export class FileItemDto {
  @ApiProperty({ example: 'photos/cat.jpg' }) key!: string;
  @ApiProperty({ ...INT64, minimum: 0, example: 52431, description: 'bytes' }) size!: number;
  @ApiProperty({ example: 'a3f1c0…', description: 'hex SHA-256 of the content' }) sha256!: string;
  @ApiProperty({ example: 'image/jpeg' }) contentType!: string;
  @ApiProperty({ example: '019ab3c2d4e5.000000.node-1' }) version!: string;
  @ApiProperty({ example: '2026-11-25T12:00:00.000Z', format: 'date-time' }) updatedAt!: string;
}

export class FileListDto {
  @ApiProperty({ type: [FileItemDto] }) items!: FileItemDto[];
  @ApiProperty({ type: String, nullable: true, description: 'pass as `cursor` for the next page; null on the last page', example: null }) nextCursor!: string | null;
}

export class ListQueryDto {
  @ApiPropertyOptional({ description: 'only keys starting with this', example: 'photos/', maxLength: 1024 })
  @IsOptional() @IsString() @MaxLength(1024)
  prefix?: string;

  @ApiPropertyOptional({ ...INTEGER, minimum: 1, maximum: 1000, default: 100, description: 'page size' })
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000)
  limit?: number;

  @ApiPropertyOptional({ description: 'the `nextCursor` of the previous page, unchanged', maxLength: 4096 })
  @IsOptional() @IsString() @MaxLength(4096)
  cursor?: string;

  @ApiPropertyOptional({ description: 'only the copies this node holds on disk', default: false })
  @IsOptional() @Transform(({ value }) => value === true || value === 'true' || value === '1') @IsBoolean()
  local?: boolean;
}

export class QuorumsDto {
  @ApiProperty({ ...INTEGER, minimum: 0, example: 3, description: 'effective N: copies of each file' }) n!: number;
  @ApiProperty({ ...INTEGER, minimum: 0, example: 2, description: 'effective W: acknowledgements before an upload is answered' }) w!: number;
  @ApiProperty({ ...INTEGER, minimum: 0, example: 2, description: 'effective R: owners consulted on a read' }) r!: number;
}

export class MemberDto implements MemberReport {
  @ApiProperty({ example: 'node-1' }) id!: string;
  @ApiProperty({ example: 'http://127.0.0.1:4001' }) url!: string;
  @ApiProperty({ enum: NODE_STATUSES, example: 'up', description: 'as the registries report it (merged: up if any says up)' }) status!: string;
  @ApiProperty({ example: '2026-11-25T12:00:00.000Z', format: 'date-time' }) lastHeartbeatAt!: string;
}

export class RegistryStatusDto implements RegistryReport {
  @ApiProperty({ example: 'http://127.0.0.1:3000' }) url!: string;
  @ApiProperty({ example: true, description: 'this node is registered there' }) registered!: boolean;
  @ApiPropertyOptional({ example: '2026-11-25T12:00:00.000Z', format: 'date-time' }) lastOkAt?: string;
  @ApiPropertyOptional({ example: 'ECONNREFUSED', description: 'why the last heartbeat failed' }) lastError?: string;
}

export class SyncStatusDto implements SyncReport {
  @ApiPropertyOptional({ example: '2026-11-25T12:00:00.000Z', format: 'date-time', description: 'when the last anti-entropy round ended' }) lastRoundAt?: string;
  @ApiProperty({ ...INT64, minimum: 0, example: 12, description: 'duration of the last round (ms)' }) lastRoundMs!: number;
  @ApiProperty({ ...INTEGER, minimum: 0, example: 0, description: 'partitions that differed from a co-owner in the last round' }) lastRoundDiffering!: number;
  @ApiProperty({ ...INT64, minimum: 0, example: 0, description: 'entries pulled in the last round' }) lastRoundPulled!: number;
  @ApiProperty({ ...INT64, minimum: 0, example: 0, description: 'entries held for partitions this node no longer owns, waiting to be handed over' }) handoverBacklog!: number;
  @ApiProperty({ ...INT64, minimum: 0, example: 0, description: 'entries quarantined because no co-owner knew them after a long absence' }) quarantined!: number;
}

export class NodeInfoDto implements NodeInfoReport {
  @ApiProperty({ example: 'node-1' }) id!: string;
  @ApiProperty({ example: 'http://127.0.0.1:4001' }) url!: string;
  @ApiProperty({
    enum: ['starting', 'recovering', 'ready', 'leaving', 'left', 'stopping'],
    example: 'ready',
    description: 'starting: no membership list yet; recovering: comparing with co-owners before serving reads; leaving: being decommissioned, handing its partitions over; left: decommissioned, takes no writes; stopping: shutting down (SIGTERM)',
  }) state!: string;
  @ApiProperty({ ...INT64, minimum: 0, example: 1200, description: 'live files held here' }) files!: number;
  @ApiProperty({ ...INT64, minimum: 0, example: 1048576, description: 'bytes of file data held here' }) usedBytes!: number;
  @ApiProperty({ ...INT64, minimum: 0, example: 53687091200, description: 'free bytes on the data disk' }) freeBytes!: number;
  @ApiProperty({ ...INT64, minimum: 0, example: 107374182400, description: 'size of the data disk' }) capacityBytes!: number;
  @ApiProperty({ type: QuorumsDto }) quorums!: QuorumsDto;
  @ApiProperty({ ...INT64, minimum: 0, example: 2, description: 'hinted-handoff records waiting for their owner' }) handoffPending!: number;
  @ApiProperty({ type: [MemberDto], description: 'the membership this node sees (merged from every registry)' }) members!: MemberDto[];
  @ApiProperty({ type: [RegistryStatusDto] }) registries!: RegistryStatusDto[];
  @ApiPropertyOptional({ type: SyncStatusDto }) sync?: SyncStatusDto;
}
