import { Readable } from 'node:stream';
import { Logger } from '@nestjs/common';
import { loadConfig, type NodeConfig } from '../../config/app-config.js';
import type { ClientLoadService } from '../../common/metrics/client-load.service.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { FakeTimers } from '../../common/workers/fake-timers.js';
import { WorkerRunnerService } from '../../common/workers/worker-runner.service.js';
import type { Entry } from '../storage/entry.js';
import type { LocalStoreService } from '../storage/local-store.service.js';
import { ScrubService } from './scrub.service.js';

const entry = (key: string, size: number, sha = key.padEnd(64, '0'), deleted = false): Entry => ({ key, version: 'v', sha256: sha, size, contentType: 'x', updatedAt: 0, deleted });

/** The scrub's pacing as worker steps: by bytes and files, yielding to clients, one read per blob and pass. */
describe('ScrubService', () => {
  let entries: Entry[];
  let reads: string[];
  let busy: boolean;
  let metrics: MetricsService;
  let scrub: ScrubService;

  beforeAll(() => Logger.overrideLogger(false));
  beforeEach(() => {
    reads = [];
    busy = false;
    metrics = new MetricsService();
    const store = {
      scanPage: (_prefix: string, after: string | undefined, limit: number) => {
        const rest = entries.filter((e) => after === undefined || e.key > after);
        return { entries: rest.slice(0, limit), truncated: rest.length > limit };
      },
      hasBlob: async () => true,
      openRead: (e: Entry) => {
        reads.push(e.key);
        return Readable.from([Buffer.alloc(1)]);
      },
    };
    const load = { activeWithin: () => busy };
    // 1 MB/s: a 10 kB file is worth 10 ms, plus 1 ms for the file itself.
    const config = loadConfig({ ROLE: 'node', CLUSTER_TOKEN: 't', REGISTRY_URL: 'http://r.test', SCRUB_BYTES_PER_SEC: '1000000' }) as NodeConfig;
    scrub = new ScrubService(config, store as unknown as LocalStoreService, load as unknown as ClientLoadService, metrics, new WorkerRunnerService(metrics, new FakeTimers()));
  });

  const value = async (name: string) => (await metrics.registry.getSingleMetric(name)!.get()).values[0]?.value ?? 0;

  it('reads until the bytes are worth a pause, then is throttled for that long; idle between passes', async () => {
    entries = Array.from({ length: 10 }, (_, i) => entry(`k${i}`, 10_000));
    // 11 ms a file: the fifth file brings the debt to 55 ms ≥ 50 ms.
    expect(await scrub.work()).toEqual({ state: 'throttled', delayMs: 55 });
    expect(reads).toEqual(['k0', 'k1', 'k2', 'k3', 'k4']);
    expect(await scrub.work()).toEqual({ state: 'throttled', delayMs: 55 });
    expect(await scrub.work()).toEqual({ state: 'idle', delayMs: 10_000 });
    expect(reads).toHaveLength(10);
    expect(await value('shoal_scrub_bytes_total')).toBe(100_000);
    expect(await value('shoal_scrub_passes_total')).toBe(1);
    await scrub.work(); // the next pass starts from the first key again
    expect(reads.slice(10)).toEqual(['k0', 'k1', 'k2', 'k3', 'k4']);
  });

  it('reads a blob shared by many keys once per pass, and skips tombstones', async () => {
    entries = [entry('a', 10, 'same'), entry('b', 10, 'same'), entry('c', 0, '', true), entry('d', 10)];
    expect(await scrub.work()).toEqual({ state: 'idle', delayMs: 10_000 });
    expect(reads).toEqual(['a', 'd']);
  });

  it('pages through more entries than one scan returns', async () => {
    entries = Array.from({ length: 250 }, (_, i) => entry(`k${String(i).padStart(3, '0')}`, 0));
    const states: string[] = [];
    for (let i = 0; i < 100 && states.at(-1) !== 'idle'; i++) {
      const r = await scrub.work();
      states.push(typeof r === 'string' ? r : r.state);
    }
    expect(states).toEqual([...Array<string>(5).fill('throttled'), 'idle']); // 1 ms a file: a pause every 50
    expect(new Set(reads).size).toBe(250);
    expect(await value('shoal_scrub_passes_total')).toBe(1);
  });

  it('yields to clients in 100 ms steps, but at most 2 s per file', async () => {
    entries = [entry('a', 10), entry('b', 10)];
    busy = true;
    for (let i = 0; i < 20; i++) expect(await scrub.work()).toEqual({ state: 'throttled', delayMs: 100 });
    expect(reads).toEqual([]);
    // Past 2 s of waiting, file `a` is read under load; `b` waits again.
    expect(await scrub.work()).toEqual({ state: 'throttled', delayMs: 100 });
    expect(reads).toEqual(['a']);
    expect(await value('shoal_scrub_yield_seconds_total')).toBeCloseTo(2.1);
    busy = false;
    expect(await scrub.work()).toEqual({ state: 'idle', delayMs: 10_000 });
    expect(reads).toEqual(['a', 'b']);
  });
});
