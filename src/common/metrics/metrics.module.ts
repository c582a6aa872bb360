import { Module } from '@nestjs/common';
import { ClientLoadService } from './client-load.service.js';
import { MetricsController } from './metrics.controller.js';
import { MetricsService } from './metrics.service.js';

/**
 * `/metrics` and the registry every metric lives in, and how busy the foreground is; requests are observed by
 * `requestObserver` (common/http).
 */
@Module({ controllers: [MetricsController], providers: [MetricsService, ClientLoadService], exports: [MetricsService, ClientLoadService] })
export class MetricsModule {}
