import { ClientLoadService } from './client-load.service.js';
import { MetricsService } from './metrics.service.js';

describe('ClientLoadService', () => {
  let load: ClientLoadService;
  let metrics: MetricsService;
  beforeEach(() => {
    metrics = new MetricsService();
    load = new ClientLoadService(metrics);
  });
  afterEach(() => load.onModuleDestroy());

  it('is busy exactly while requests are in flight', async () => {
    expect(load.busy()).toBe(false);
    const a = load.begin('/v1/files/a');
    const b = load.begin('/internal/entries/x');
    expect(load.busy()).toBe(true);
    a?.();
    expect(load.busy()).toBe(true);
    b?.();
    expect(load.busy()).toBe(false);
    expect(await metrics.registry.getSingleMetricAsString('shoal_requests_in_flight')).toMatch(/shoal_requests_in_flight 0/);
  });

  it('stays active for the quiet period after the last request ended, not busy', async () => {
    expect(load.activeWithin(200)).toBe(false);
    load.begin('/internal/entries/batch')?.();
    expect(load.busy()).toBe(false);
    expect(load.activeWithin(200)).toBe(true);
    await new Promise((r) => setTimeout(r, 250));
    expect(load.activeWithin(200)).toBe(false);
    const end = load.begin('/v1/files/a');
    expect(load.activeWithin(0)).toBe(true); // in flight counts whatever the period
    end?.();
  });

  it('counts a tracked request of a server without probes (the S3 API) like any other', () => {
    const done = load.track();
    expect(load.busy()).toBe(true);
    done();
    expect(load.busy()).toBe(false);
    expect(load.activeWithin(200)).toBe(true);
  });

  it('does not count probes and scrapes as load', () => {
    expect(load.begin('/health/ready')).toBeUndefined();
    expect(load.begin('/metrics')).toBeUndefined();
    expect(load.busy()).toBe(false);
    expect(load.activeWithin(60_000)).toBe(false);
  });

  it('counts a blocked event loop as busy', async () => {
    // the delay monitor measures from its previous tick: give it a first one before stalling
    await new Promise((r) => setTimeout(r, 100));
    const until = Date.now() + 300;
    while (Date.now() < until) {
      // block the loop for longer than the lag limit
    }
    // the stall is read at the end of the current half-second window
    let seen = false;
    for (let i = 0; i < 60 && !seen; i++) {
      await new Promise((r) => setTimeout(r, 50));
      seen = load.busy();
    }
    expect(seen).toBe(true);
  });
});
