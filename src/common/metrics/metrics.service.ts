import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type CounterConfiguration, type GaugeConfiguration, type HistogramConfiguration } from 'prom-client';

/**
 * One Prometheus registry per app instance (not prom-client's global one), so that several apps in one process —
 * as in the contract tests — never clash over metric names.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly httpBytes: Counter<'route' | 'direction'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'shoal_' });
    this.httpDuration = this.histogram({
      name: 'shoal_http_request_duration_seconds',
      help: 'HTTP request duration by route template and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    });
    this.httpBytes = this.counter({
      name: 'shoal_http_bytes_total',
      help: 'HTTP bytes by route template: in = request bodies (Content-Length), out = response bodies as written to the socket (chunk framing included)',
      labelNames: ['route', 'direction'],
    });
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
