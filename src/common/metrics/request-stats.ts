import type { Metric, Registry } from 'prom-client';

/** Upper bounds, in seconds, of `shoal_http_request_duration_seconds` (a bucket `+Inf` follows them). */
export const DURATION_BUCKETS: readonly number[] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

type DurationLabels = { method: string; route: string; status: string };

/** One (method, route, status) series of the duration histogram: per-bucket counts (not cumulative), sum and count. */
class DurationSeries {
  readonly counts = new Float64Array(DURATION_BUCKETS.length);
  sum = 0;
  count = 0;

  constructor(readonly labels: DurationLabels) {}

  observe(seconds: number): void {
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]) i++;
    if (i < DURATION_BUCKETS.length) this.counts[i]++;
    this.sum += seconds;
    this.count++;
  }
}

/** What is kept for one route template: its bytes, and its duration series by method and status. */
class RouteSeries {
  bytesIn = 0;
  bytesOut = 0;
  readonly byMethod = new Map<string, Map<number, DurationSeries>>();

  constructor(readonly route: string) {}

  series(method: string, status: number): DurationSeries {
    let byStatus = this.byMethod.get(method);
    if (byStatus === undefined) this.byMethod.set(method, (byStatus = new Map()));
    let s = byStatus.get(status);
    if (s === undefined) byStatus.set(status, (s = new DurationSeries({ method, route: this.route, status: String(status) })));
    return s;
  }
}

/**
 * The per-request HTTP metrics — `shoal_http_request_duration_seconds` (histogram by method, route template and
 * status) and `shoal_http_bytes_total` (counter by route and direction) — kept as plain numbers and handed to
 * prom-client's registry only when it is scraped. prom-client's own Histogram and Counter re-validate and re-hash the
 * label set on every observation, even through a cached child; under small-file load that was ≈ 3 % of a node's CPU
 * (docs/benchmarks.md). Route templates, methods and statuses are few, so the series stay few.
 */
export class RequestStats {
  private readonly routes = new Map<string, RouteSeries>();

  constructor(registry: Registry) {
    registry.registerMetric(exposed('shoal_http_request_duration_seconds', 'HTTP request duration by route template and status', 'histogram', () => this.durationValues(), () => this.routes.clear()));
    registry.registerMetric(exposed('shoal_http_bytes_total', 'HTTP bytes by route template: in = request bodies (Content-Length), out = response bodies as written to the socket (chunk framing included)', 'counter', () => this.byteValues(), () => this.routes.clear()));
  }

  /** One finished (or cut) request: its duration and the body bytes it carried each way. */
  record(method: string, route: string, status: number, seconds: number, bytesIn: number, bytesOut: number): void {
    let r = this.routes.get(route);
    if (r === undefined) this.routes.set(route, (r = new RouteSeries(route)));
    r.series(method, status).observe(seconds);
    r.bytesIn += bytesIn;
    r.bytesOut += bytesOut;
  }

  private durationValues(): MetricValue[] {
    const name = 'shoal_http_request_duration_seconds';
    const values: MetricValue[] = [];
    for (const r of this.routes.values()) {
      for (const byStatus of r.byMethod.values()) {
        for (const s of byStatus.values()) {
          let cumulative = 0;
          DURATION_BUCKETS.forEach((le, i) => {
            cumulative += s.counts[i];
            values.push({ labels: { le }, sharedLabels: s.labels, value: cumulative, metricName: `${name}_bucket` });
          });
          values.push({ labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: `${name}_bucket` });
          values.push({ labels: s.labels, value: s.sum, metricName: `${name}_sum` });
          values.push({ labels: s.labels, value: s.count, metricName: `${name}_count` });
        }
      }
    }
    return values;
  }

  private byteValues(): MetricValue[] {
    const values: MetricValue[] = [];
    for (const r of this.routes.values()) {
      // `in` is there for every route that served a request, `out` once a response body has been written.
      values.push({ labels: { route: r.route, direction: 'in' }, value: r.bytesIn });
      if (r.bytesOut > 0) values.push({ labels: { route: r.route, direction: 'out' }, value: r.bytesOut });
    }
    return values;
  }
}

/** A value as prom-client's classes hand them to the registry (`sharedLabels` follow `labels`, as a histogram's `le` comes first). */
type MetricValue = { labels: Record<string, string | number>; sharedLabels?: Record<string, string>; value: number; metricName?: string };

/**
 * A metric as prom-client's Registry reads one (name, help, type, `get()`, `reset()`): the registry formats its values
 * like those of its own classes, in the Prometheus or OpenMetrics text format.
 */
function exposed(name: string, help: string, type: 'histogram' | 'counter', values: () => MetricValue[], reset: () => void): Metric {
  const metric = {
    name,
    help,
    type,
    aggregator: 'sum' as const,
    get: () => Promise.resolve({ name, help, type, aggregator: 'sum' as const, values: values() }),
    reset,
  };
  return metric as unknown as Metric;
}
