import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, IsString, IsUrl, Matches, Max, MaxLength, Min } from 'class-validator';

/** Wire types between nodes and registries (DESIGN.md §2, registry API). Both roles import them from here. */
export const NODE_STATUSES = ['up', 'down', 'dead', 'stopped', 'leaving', 'left'] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];

/**
 * Statuses that keep a node's place in the placement (DESIGN §3 Lifecycle): `down` and `stopped` still own their data
 * (peers hint for them); `dead`, `leaving` and `left` own nothing.
 */
export const OWNING_STATUSES: ReadonlySet<NodeStatus> = new Set<NodeStatus>(['up', 'down', 'stopped']);

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

  @ApiPropertyOptional({ example: 12, description: 'decommission: partitions this node still holds (sent only while it is leaving)' })
  @IsOptional() @IsInt() @Min(0)
  partitionsLeft?: number;

  @ApiPropertyOptional({ example: 3400, description: 'decommission: entries (files and tombstones) not yet confirmed on their owners' })
  @IsOptional() @IsInt() @Min(0)
  entriesLeft?: number;

  @ApiPropertyOptional({ example: 1048576, description: 'decommission: bytes of file data not yet handed over' })
  @IsOptional() @IsInt() @Min(0)
  bytesLeft?: number;
}

/** A planned removal (DESIGN §3 Lifecycle), as the registry tracks it. */
export class DecommissionDto {
  @ApiProperty({ example: '2026-11-25T12:00:00.000Z', format: 'date-time' }) requestedAt!: string;
  @ApiPropertyOptional({ example: '2026-11-25T12:10:00.000Z', format: 'date-time', description: 'when every entry it held was confirmed on its owners' }) leftAt?: string;
  @ApiPropertyOptional({ example: 12, description: 'partitions it still holds, as last reported (absent before its first report)' }) partitionsLeft?: number;
  @ApiPropertyOptional({ example: 3400, description: 'entries (files and tombstones) not yet confirmed on their owners' }) entriesLeft?: number;
  @ApiPropertyOptional({ example: 1048576, description: 'bytes of file data not yet handed over' }) bytesLeft?: number;
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
  @ApiPropertyOptional({ type: DecommissionDto, description: 'present while the node is leaving, and once it has left' }) decommission?: DecommissionDto;
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
  @ApiProperty({ example: 0, description: 'stopped on purpose (SIGTERM), expected back; owns its data' }) stopped!: number;
  @ApiProperty({ example: 0, description: 'being decommissioned' }) leaving!: number;
  @ApiProperty({ example: 0, description: 'decommissioned: holds nothing, may be forgotten' }) left!: number;
}

export class ClusterSummaryDto {
  @ApiProperty({ example: 7 }) epoch!: number;
  @ApiProperty({ type: NodeCountsDto, description: 'nodes by status' }) nodes!: NodeCountsDto;
  @ApiProperty({ example: 321122547200 }) capacityBytes!: number;
  @ApiProperty({ example: 160000000000 }) freeBytes!: number;
  @ApiProperty({ example: 3145728 }) usedBytes!: number;
  @ApiProperty({ example: 3600, description: 'sum of the files every node reports (each copy counts)' }) files!: number;
}
