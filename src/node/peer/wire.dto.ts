import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsBoolean, IsInt, IsNumber, IsObject, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { VERSION_PATTERN } from '../storage/hlc.js';

/** Validated bodies and queries of the node↔node routes (see wire.ts); kept out of the client OpenAPI document. */
export class EntryDto {
  @ApiProperty() @IsString() @MaxLength(4096) key!: string;
  @ApiProperty({ example: '019ab3c2d4e5.000000.node-1' }) @IsString() @MaxLength(128) version!: string;
  @ApiProperty({ description: 'hex SHA-256; empty for a tombstone' }) @IsString() @MaxLength(64) sha256!: string;
  @ApiProperty() @IsInt() @Min(0) size!: number;
  @ApiProperty() @IsString() @MaxLength(1024) contentType!: string;
  @ApiProperty() @IsNumber() updatedAt!: number;
  @ApiProperty() @IsBoolean() deleted!: boolean;
  @ApiPropertyOptional({ description: 'object metadata stored with the version (S3 headers, MD5)', type: 'object', additionalProperties: { type: 'string' } })
  @IsOptional() @IsObject() meta?: Record<string, string>;
}

export class PutResultDto {
  @ApiProperty({ description: 'false when this node already held that version or a newer one' }) applied!: boolean;
  @ApiProperty({ description: 'the version this node now holds' }) version!: string;
}

export class ScanQueryDto {
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(4096) prefix?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(4096) after?: string;
  @ApiPropertyOptional() @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(10000) limit?: number;
}

export class ScanResponseDto {
  @ApiProperty({ type: [EntryDto] }) entries!: EntryDto[];
  @ApiProperty({ description: 'more entries follow the last one' }) truncated!: boolean;
}

/** Owner fencing: a coordinator proposes the version of a new write of `key` (see replication/fencing.ts). */
export class FenceRequestDto {
  @ApiProperty() @IsString() @MaxLength(4096) key!: string;
  @ApiProperty({ example: '019ab3c2d4e5.000000.node-1' }) @IsString() @Matches(VERSION_PATTERN) version!: string;
  @ApiPropertyOptional({ description: 'a conditional write\'s token: also grant the key to that write unless another holds it' }) @IsOptional() @IsString() @MaxLength(64) reserve?: string;
  @ApiPropertyOptional({ description: 'with `reserve`: give that grant up instead' }) @IsOptional() @IsBoolean() release?: boolean;
}

export class FenceResponseDto {
  @ApiProperty({ nullable: true, type: String, description: 'the version this node holds for the key, or null' }) held!: string | null;
  @ApiPropertyOptional({ description: 'whether the version held is a tombstone' }) deleted?: boolean;
  @ApiPropertyOptional({ description: 'for a proposal with `reserve`: whether the key was granted to it' }) reserved?: boolean;
}

/** Anti-entropy, step 1: the partitions both nodes own (see sync/partition-set.ts) and the asker's root over them. */
export class DigestRequestDto {
  @IsString() @MaxLength(16384) partitions!: string;
  @IsString() @MaxLength(64) root!: string;
}
