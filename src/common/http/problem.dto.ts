import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** RFC 9457 problem document; every error of every route has this shape (application/problem+json). */
export class ProblemDto {
  @ApiProperty({ example: 'https://shoal.dev/problems/not-found' }) type!: string;
  @ApiProperty({ example: 'Not Found' }) title!: string;
  @ApiProperty({ example: 404 }) status!: number;
  @ApiProperty({ example: 'no live version of "a.txt"' }) detail!: string;
  @ApiProperty({ description: 'stable machine-readable error code', example: 'NOT_FOUND' }) code!: string;
  @ApiPropertyOptional({ example: '/v1/files/a.txt' }) instance?: string;
  @ApiPropertyOptional({ description: 'validation failures', type: [String] }) errors?: string[];
}
