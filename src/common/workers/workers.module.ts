import { Module } from '@nestjs/common';
import { MetricsModule } from '../metrics/metrics.module.js';
import { WorkerRunnerService } from './worker-runner.service.js';
import { DEFAULT_SHUTDOWN_DEADLINE_MS, realTimers, WORKER_SHUTDOWN_DEADLINE_MS, WORKER_TIMERS } from './worker.js';

/** The one runner for background work; each role's services register their workers with it. Its timers are a port (WORKER_TIMERS) that tests replace. */
@Module({ imports: [MetricsModule], providers: [{ provide: WORKER_TIMERS, useValue: realTimers }, { provide: WORKER_SHUTDOWN_DEADLINE_MS, useValue: DEFAULT_SHUTDOWN_DEADLINE_MS }, WorkerRunnerService], exports: [WorkerRunnerService] })
export class WorkersModule {}
