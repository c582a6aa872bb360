import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService, type HealthCheckResult } from '@nestjs/terminus';
import { ApiProblems } from '../http/api-problems.js';
import { HEALTH_INDICATORS_SCHEMA, type HealthIndicator } from '../http/problem.dto.js';
import { READINESS_CHECKS, type ReadinessCheck } from './readiness.js';

/** What @nestjs/terminus answers when every check passes (a failing one is a 503 NOT_READY problem with `details`). */
class HealthDto {
  @ApiProperty({ enum: ['ok'], example: 'ok' }) status!: 'ok';
  @ApiProperty({ ...HEALTH_INDICATORS_SCHEMA, description: 'the checks that passed', example: { storage: { status: 'up' } } }) info!: Record<string, HealthIndicator>;
  @ApiProperty({ ...HEALTH_INDICATORS_SCHEMA, description: 'the checks that failed (empty on 200)', example: {} }) error!: Record<string, HealthIndicator>;
  @ApiProperty({ ...HEALTH_INDICATORS_SCHEMA, description: 'every check by name (none for liveness)', example: { storage: { status: 'up' } } }) details!: Record<string, HealthIndicator>;
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
  @ApiOperation({ summary: 'Liveness: the process answers', description: 'Always 200 while the process serves HTTP; no check runs. For liveness probes.', operationId: 'getLiveness' })
  @ApiOkResponse({ type: HealthDto, description: 'alive' })
  live(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  @Get('ready')
  @HealthCheck({ swaggerDocumentation: false })
  @ApiOperation({ summary: 'Readiness: the role can serve traffic', description: 'Runs the role\'s checks (a node: storage writable, a membership list known, not recovering; a registry: storage writable). 503 NOT_READY lists each check in `details`. An unreachable registry does not make a node unready.', operationId: 'getReadiness' })
  @ApiOkResponse({ type: HealthDto, description: 'ready' })
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
