import { Registry } from 'prom-client';
import { RequestStats } from './request-stats.js';

describe('RequestStats', () => {
  it('exposes the duration histogram and the byte counter in the Prometheus text format', async () => {
    const registry = new Registry();
    const stats = new RequestStats(registry);
    stats.record('GET', '/v1/files/*key', 200, 0.0005, 0, 4096);
    stats.record('GET', '/v1/files/*key', 200, 0.003, 0, 4096);
    stats.record('GET', '/v1/files/*key', 404, 120, 0, 0);
    stats.record('PUT', '/v1/files/*key', 201, 0.02, 4096, 180);
    const text = await registry.metrics();
    const line = (s: string) => expect(text.split('\n')).toContain(s);
    line('# HELP shoal_http_request_duration_seconds HTTP request duration by route template and status');
    line('# TYPE shoal_http_request_duration_seconds histogram');
    // Buckets are cumulative; a value equal to a bound falls in that bound's bucket; beyond the last, only +Inf counts it.
    line('shoal_http_request_duration_seconds_bucket{le="0.001",method="GET",route="/v1/files/*key",status="200"} 1');
    line('shoal_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/v1/files/*key",status="200"} 2');
    line('shoal_http_request_duration_seconds_bucket{le="60",method="GET",route="/v1/files/*key",status="200"} 2');
    line('shoal_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/v1/files/*key",status="200"} 2');
    line('shoal_http_request_duration_seconds_sum{method="GET",route="/v1/files/*key",status="200"} 0.0035');
    line('shoal_http_request_duration_seconds_count{method="GET",route="/v1/files/*key",status="200"} 2');
    line('shoal_http_request_duration_seconds_bucket{le="60",method="GET",route="/v1/files/*key",status="404"} 0');
    line('shoal_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/v1/files/*key",status="404"} 1');
    line('shoal_http_request_duration_seconds_count{method="PUT",route="/v1/files/*key",status="201"} 1');
    line('# TYPE shoal_http_bytes_total counter');
    line('shoal_http_bytes_total{route="/v1/files/*key",direction="in"} 4096');
    line('shoal_http_bytes_total{route="/v1/files/*key",direction="out"} 8372');
  });

  it('lists no series before a request and drops them on reset', async () => {
    const registry = new Registry();
    const stats = new RequestStats(registry);
    expect(await registry.metrics()).not.toMatch(/_count\{/);
    stats.record('GET', 'unmatched', 404, 0.001, 0, 0);
    expect(await registry.metrics()).toMatch(/^shoal_http_request_duration_seconds_count\{method="GET",route="unmatched",status="404"\} 1$/m);
    expect(await registry.metrics()).toMatch(/^shoal_http_bytes_total\{route="unmatched",direction="in"\} 0$/m);
    registry.resetMetrics();
    expect(await registry.metrics()).not.toMatch(/_count\{/);
  });
});
