import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, IsString, IsUrl, Matches, Max, MaxLength, Min } from 'class-validator';

/** Wire types between nodes and registries (DESIGN.md §2, registry API). Both roles import them from here. */
export const NODE_STATUSES = ['up', 'down', 'dead'] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];

export class RegisterNodeDto {
  @ApiProperty({ example: 'node-1', description: 'stable node id' })
  @IsString() @Matches(/^[A-Za-z0-9._-]{1,64}$/)
  id!: string;

  @ApiProperty({ example: 'http://127.0.0.1:4001', description: 'URL peers and the registry use to reach the node' })
  @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] })
  url!: string;

  @ApiPropertyOptional({ example: 'rack-a' })
  @IsOptional() @IsString() @MaxLength(64)
  zone?: string;

  @ApiProperty({ example: 107374182400 }) @IsInt() @Min(0)
  capacityBytes!: number;

  @ApiProperty({ example: 53687091200 }) @IsInt() @Min(0)
  freeBytes!: number;

  @ApiPropertyOptional({ example: 10, description: 'the node\'s PARTITION_BITS; must match the cluster\'s' })
  @IsOptional() @IsInt() @Min(1) @Max(16)
  partitionBits?: number;
}

export class HeartbeatDto {
  @ApiProperty({ example: 53687091200 }) @IsInt() @Min(0)
  freeBytes!: number;

  @ApiProperty({ example: 1200, description: 'live files held by the node' }) @IsInt() @Min(0)
  files!: number;

  @ApiPropertyOptional({ example: 1048576, description: 'bytes of file data held by the node' })
  @IsOptional() @IsInt() @Min(0)
  usedBytes?: number;

  @ApiPropertyOptional({ example: 1764590400000, description: 'the node\'s wall clock (ms since epoch) when it sent this heartbeat' })
  @IsOptional() @IsInt() @Min(0)
  wallClockMs?: number;

  @ApiPropertyOptional({ example: 3, description: 'round trip of the node\'s previous heartbeat to this registry (ms, monotonic clock)' })
  @IsOptional() @IsInt() @Min(0) @Max(600000)
  rttMs?: number;
}

export class NodeRecordDto {
  @ApiProperty({ example: 'node-1' }) id!: string;
  @ApiProperty({ example: 'http://127.0.0.1:4001' }) url!: string;
  @ApiPropertyOptional({ example: 'rack-a' }) zone?: string;
  @ApiProperty({ enum: NODE_STATUSES, example: 'up' }) status!: NodeStatus;
  @ApiProperty({ example: '2026-11-25T12:00:00.000Z', format: 'date-time' }) lastHeartbeatAt!: string;
  @ApiProperty({ example: '2026-11-25T11:00:00.000Z', format: 'date-time' }) registeredAt!: string;
  @ApiProperty({ example: 107374182400 }) capacityBytes!: number;
  @ApiProperty({ example: 53687091200 }) freeBytes!: number;
  @ApiProperty({ example: 1200 }) files!: number;
  @ApiProperty({ example: 1048576 }) usedBytes!: number;
  @ApiPropertyOptional({ example: 2, description: 'this registry\'s clock minus the node\'s, corrected by half the heartbeat round trip (DESIGN §3 Clocks); absent until a heartbeat carried the node\'s clock' })
  clockOffsetMs?: number;
  @ApiPropertyOptional({ example: false, description: 'the offset exceeds MAX_CLOCK_SKEW_MS: the node coordinates no writes until its clock is back' })
  clockSkewed?: boolean;
}

export class MembershipDto {
  @ApiProperty({ example: 7, description: 'increases whenever the list or a status changes' }) epoch!: number;
  @ApiProperty({ example: 10, nullable: true, description: 'the cluster\'s PARTITION_BITS, fixed by the first node' }) partitionBits!: number | null;
  @ApiProperty({ type: [NodeRecordDto] }) nodes!: NodeRecordDto[];
}

export class NodeCountsDto {
  @ApiProperty({ example: 3 }) up!: number;
  @ApiProperty({ example: 0 }) down!: number;
  @ApiProperty({ example: 0 }) dead!: number;
}

export class ClusterSummaryDto {
  @ApiProperty({ example: 7 }) epoch!: number;
  @ApiProperty({ type: NodeCountsDto, description: 'nodes by status' }) nodes!: NodeCountsDto;
  @ApiProperty({ example: 321122547200 }) capacityBytes!: number;
  @ApiProperty({ example: 160000000000 }) freeBytes!: number;
  @ApiProperty({ example: 3145728 }) usedBytes!: number;
  @ApiProperty({ example: 3600, description: 'sum of the files every node reports (each copy counts)' }) files!: number;
}
