import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService, type HealthCheckResult } from '@nestjs/terminus';
import { ApiProblems } from '../http/api-problems.js';
import { READINESS_CHECKS, type ReadinessCheck } from './readiness.js';

class HealthDto {
  @ApiProperty({ enum: ['ok', 'error', 'shutting_down'], example: 'ok' }) status!: string;
  @ApiProperty({ description: 'each check by name, with its status and details', example: { storage: { status: 'up' } } }) details!: Record<string, unknown>;
}

@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    @Inject(READINESS_CHECKS) private readonly checks: ReadinessCheck[],
  ) {}

  @Get('live')
  @HealthCheck({ swaggerDocumentation: false })
  @ApiOperation({ summary: 'Liveness: the process answers', operationId: 'getLiveness' })
  @ApiOkResponse({ type: HealthDto })
  live(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  @Get('ready')
  @HealthCheck({ swaggerDocumentation: false })
  @ApiOperation({ summary: 'Readiness: the role can serve traffic', operationId: 'getReadiness' })
  @ApiOkResponse({ type: HealthDto })
  @ApiProblems('NOT_READY')
  ready(): Promise<HealthCheckResult> {
    return this.health.check(
      this.checks.map((c) => async () => {
        const { ok, ...detail } = await c.check();
        const session = this.indicators.check(c.name);
        return ok ? session.up(detail) : session.down(detail);
      }),
    );
  }
}
