import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type CounterConfiguration, type GaugeConfiguration, type HistogramConfiguration } from 'prom-client';
import { RequestStats } from './request-stats.js';

/**
 * One Prometheus registry per app instance (not prom-client's global one), so that several apps in one process —
 * as in the contract tests — never clash over metric names.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  /** Duration and bytes of every HTTP request, recorded by the request observer. */
  readonly http = new RequestStats(this.registry);

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'shoal_' });
  }

  counter<T extends string>(cfg: Omit<CounterConfiguration<T>, 'registers'>): Counter<T> {
    return new Counter({ ...cfg, registers: [this.registry] });
  }

  gauge<T extends string>(cfg: Omit<GaugeConfiguration<T>, 'registers'>): Gauge<T> {
    return new Gauge({ ...cfg, registers: [this.registry] });
  }

  histogram<T extends string>(cfg: Omit<HistogramConfiguration<T>, 'registers'>): Histogram<T> {
    return new Histogram({ ...cfg, registers: [this.registry] });
  }
}
