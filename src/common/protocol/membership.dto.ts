import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, IsString, IsUrl, Matches, Max, MaxLength, Min } from 'class-validator';
import { INT64, INTEGER } from '../http/api-headers.js';

/** Wire types between nodes and registries (DESIGN.md §2, registry API). Both roles import them from here. */
export const NODE_STATUSES = ['up', 'down', 'dead', 'stopped', 'leaving', 'left'] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];

/**
 * Statuses that keep a node's place in the placement (DESIGN §3 Lifecycle): `down` and `stopped` still own their data
 * (peers hint for them); `dead`, `leaving` and `left` own nothing.
 */
export const OWNING_STATUSES: ReadonlySet<NodeStatus> = new Set<NodeStatus>(['up', 'down', 'stopped']);

export class RegisterNodeDto {
  @ApiProperty({ example: 'node-1', description: 'stable node id', pattern: '^[A-Za-z0-9._-]{1,64}$' })
  @IsString() @Matches(/^[A-Za-z0-9._-]{1,64}$/)
  id!: string;

  @ApiProperty({ example: 'http://127.0.0.1:4001', description: 'URL peers and the registry use to reach the node' })
  @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] })
  url!: string;

  @ApiPropertyOptional({ example: 'rack-a' })
  @IsOptional() @IsString() @MaxLength(64)
  zone?: string;

  @ApiProperty({ ...INT64, minimum: 0, example: 107374182400, description: 'size of the node\'s data disk' }) @IsInt() @Min(0)
  capacityBytes!: number;

  @ApiProperty({ ...INT64, minimum: 0, example: 53687091200, description: 'free bytes on the node\'s data disk' }) @IsInt() @Min(0)
  freeBytes!: number;

  @ApiPropertyOptional({ ...INTEGER, minimum: 1, maximum: 16, example: 10, description: 'the node\'s PARTITION_BITS; must match the cluster\'s' })
  @IsOptional() @IsInt() @Min(1) @Max(16)
  partitionBits?: number;
}

export class HeartbeatDto {
  @ApiProperty({ ...INT64, minimum: 0, example: 53687091200, description: 'free bytes on the node\'s data disk' }) @IsInt() @Min(0)
  freeBytes!: number;

  @ApiProperty({ ...INT64, minimum: 0, example: 1200, description: 'live files held by the node' }) @IsInt() @Min(0)
  files!: number;

  @ApiPropertyOptional({ ...INT64, minimum: 0, example: 1048576, description: 'bytes of file data held by the node' })
  @IsOptional() @IsInt() @Min(0)
  usedBytes?: number;

  @ApiPropertyOptional({ ...INT64, minimum: 0, example: 1764590400000, description: 'the node\'s wall clock (ms since epoch) when it sent this heartbeat' })
  @IsOptional() @IsInt() @Min(0)
  wallClockMs?: number;

  @ApiPropertyOptional({ ...INTEGER, minimum: 0, maximum: 600000, example: 3, description: 'round trip of the node\'s previous heartbeat to this registry (ms, monotonic clock)' })
  @IsOptional() @IsInt() @Min(0) @Max(600000)
  rttMs?: number;

  @ApiPropertyOptional({ ...INTEGER, minimum: 0, example: 12, description: 'decommission: partitions this node still holds (sent only while it is leaving)' })
  @IsOptional() @IsInt() @Min(0)
  partitionsLeft?: number;

  @ApiPropertyOptional({ ...INT64, minimum: 0, example: 3400, description: 'decommission: entries (files and tombstones) not yet confirmed on their owners' })
  @IsOptional() @IsInt() @Min(0)
  entriesLeft?: number;

  @ApiPropertyOptional({ ...INT64, minimum: 0, example: 1048576, description: 'decommission: bytes of file data not yet handed over' })
  @IsOptional() @IsInt() @Min(0)
  bytesLeft?: number;
}

/** A planned removal (DESIGN §3 Lifecycle), as the registry tracks it. */
export class DecommissionDto {
  @ApiProperty({ example: '2026-11-25T12:00:00.000Z', format: 'date-time' }) requestedAt!: string;
  @ApiPropertyOptional({ example: '2026-11-25T12:10:00.000Z', format: 'date-time', description: 'when every entry it held was confirmed on its owners' }) leftAt?: string;
  @ApiPropertyOptional({ ...INTEGER, minimum: 0, example: 12, description: 'partitions it still holds, as last reported (absent before its first report)' }) partitionsLeft?: number;
  @ApiPropertyOptional({ ...INT64, minimum: 0, example: 3400, description: 'entries (files and tombstones) not yet confirmed on their owners' }) entriesLeft?: number;
  @ApiPropertyOptional({ ...INT64, minimum: 0, example: 1048576, description: 'bytes of file data not yet handed over' }) bytesLeft?: number;
}

export class NodeRecordDto {
  @ApiProperty({ example: 'node-1', description: 'stable node id' }) id!: string;
  @ApiProperty({ example: 'http://127.0.0.1:4001', description: 'the node\'s ADVERTISE_URL' }) url!: string;
  @ApiPropertyOptional({ example: 'rack-a', description: 'failure domain (ZONE)' }) zone?: string;
  @ApiProperty({ enum: NODE_STATUSES, example: 'up' }) status!: NodeStatus;
  @ApiProperty({ example: '2026-11-25T12:00:00.000Z', format: 'date-time', description: 'last heartbeat this registry received' }) lastHeartbeatAt!: string;
  @ApiProperty({ example: '2026-11-25T11:00:00.000Z', format: 'date-time', description: 'first registration' }) registeredAt!: string;
  @ApiProperty({ ...INT64, minimum: 0, example: 107374182400 }) capacityBytes!: number;
  @ApiProperty({ ...INT64, minimum: 0, example: 53687091200 }) freeBytes!: number;
  @ApiProperty({ ...INT64, minimum: 0, example: 1200, description: 'live files the node reports' }) files!: number;
  @ApiProperty({ ...INT64, minimum: 0, example: 1048576, description: 'bytes of file data the node reports' }) usedBytes!: number;
  @ApiPropertyOptional({ type: DecommissionDto, description: 'present while the node is leaving, and once it has left' }) decommission?: DecommissionDto;
  @ApiPropertyOptional({ ...INT64, example: 2, description: 'this registry\'s clock minus the node\'s, corrected by half the heartbeat round trip (DESIGN §3 Clocks); absent until a heartbeat carried the node\'s clock' })
  clockOffsetMs?: number;
  @ApiPropertyOptional({ example: false, description: 'the offset exceeds MAX_CLOCK_SKEW_MS: the node coordinates no writes until its clock is back' })
  clockSkewed?: boolean;
}

export class MembershipDto {
  @ApiProperty({ ...INT64, minimum: 0, example: 7, description: 'increases whenever the list or a status changes' }) epoch!: number;
  @ApiProperty({ ...INTEGER, minimum: 1, maximum: 16, nullable: true, example: 10, description: 'the cluster\'s PARTITION_BITS, fixed by the first node; null until a node registered' }) partitionBits!: number | null;
  @ApiProperty({ type: [NodeRecordDto] }) nodes!: NodeRecordDto[];
}

export class NodeCountsDto {
  @ApiProperty({ ...INTEGER, minimum: 0, example: 3 }) up!: number;
  @ApiProperty({ ...INTEGER, minimum: 0, example: 0 }) down!: number;
  @ApiProperty({ ...INTEGER, minimum: 0, example: 0 }) dead!: number;
  @ApiProperty({ ...INTEGER, minimum: 0, example: 0, description: 'stopped on purpose (SIGTERM), expected back; owns its data' }) stopped!: number;
  @ApiProperty({ ...INTEGER, minimum: 0, example: 0, description: 'being decommissioned' }) leaving!: number;
  @ApiProperty({ ...INTEGER, minimum: 0, example: 0, description: 'decommissioned: holds nothing, may be forgotten' }) left!: number;
}

export class ClusterSummaryDto {
  @ApiProperty({ ...INT64, minimum: 0, example: 7, description: 'the membership epoch' }) epoch!: number;
  @ApiProperty({ type: NodeCountsDto, description: 'nodes by status' }) nodes!: NodeCountsDto;
  @ApiProperty({ ...INT64, minimum: 0, example: 321122547200, description: 'sum over the nodes' }) capacityBytes!: number;
  @ApiProperty({ ...INT64, minimum: 0, example: 160000000000, description: 'sum over the nodes' }) freeBytes!: number;
  @ApiProperty({ ...INT64, minimum: 0, example: 3145728, description: 'sum over the nodes (each copy counts)' }) usedBytes!: number;
  @ApiProperty({ ...INT64, minimum: 0, example: 3600, description: 'sum of the files every node reports (each copy counts)' }) files!: number;
}
