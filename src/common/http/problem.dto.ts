import { ApiProperty, ApiPropertyOptional, type SchemaObject } from '@nestjs/swagger';
import { ERROR_STATUS } from '../errors.js';
import { INTEGER } from './api-headers.js';

/**
 * Readiness checks by name, as @nestjs/terminus reports them: each has a `status` and whatever else its check tells
 * (`members`, `state`, `message`…). Checks are pluggable per role, so the extra fields are open on purpose.
 */
export const HEALTH_INDICATORS_SCHEMA: { type: 'object'; additionalProperties: SchemaObject } = {
  type: 'object',
  additionalProperties: {
    type: 'object',
    required: ['status'],
    properties: { status: { type: 'string', enum: ['up', 'down'] } },
    additionalProperties: true,
  },
};

export interface HealthIndicator {
  status: 'up' | 'down';
  [detail: string]: unknown;
}

/** RFC 9457 problem document; every error of every route has this shape (application/problem+json). */
export class ProblemDto {
  @ApiProperty({ example: 'https://shoal.dev/problems/not-found', description: 'a URI naming the kind of problem (one per `code`)' }) type!: string;
  @ApiProperty({ example: 'Not Found', description: 'the HTTP reason phrase of `status`' }) title!: string;
  @ApiProperty({ ...INTEGER, minimum: 400, maximum: 599, example: 404, description: 'the HTTP status code' }) status!: number;
  @ApiProperty({ example: 'no live version of "a.txt"', description: 'what went wrong, for humans' }) detail!: string;
  @ApiProperty({ enum: Object.keys(ERROR_STATUS), enumName: 'ErrorCode', description: 'stable machine-readable error code', example: 'NOT_FOUND' }) code!: string;
  @ApiPropertyOptional({ example: '/v1/files/a.txt', description: 'the path of the request' }) instance?: string;
  @ApiPropertyOptional({ description: 'validation failures (VALIDATION_FAILED)', type: [String] }) errors?: string[];
  @ApiPropertyOptional({ ...INTEGER, minimum: 0, example: 5, description: 'seconds to wait before retrying, as in the Retry-After header (503)' }) retryAfter?: number;
  @ApiPropertyOptional({ ...INTEGER, minimum: 0, example: 1, description: 'copies that were written before the upload failed (503 INSUFFICIENT_REPLICAS)' }) replicas?: number;
  @ApiPropertyOptional({
    description: 'each readiness check by name (NOT_READY from /health/ready)',
    ...HEALTH_INDICATORS_SCHEMA,
    example: { storage: { status: 'up' }, sync: { status: 'down', state: 'recovering' } },
  }) details?: Record<string, HealthIndicator>;
}
