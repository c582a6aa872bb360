import { Logger } from '@nestjs/common';
import type { NodeConfig } from '../../config/app-config.js';
import type { ClientLoadService } from '../../common/metrics/client-load.service.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { FakeTimers, settle } from '../../common/workers/fake-timers.js';
import { WorkerRunnerService } from '../../common/workers/worker-runner.service.js';
import type { NodeStateService } from '../state/node-state.service.js';
import { SyncScheduler } from './sync.scheduler.js';
import type { SyncService } from './sync.service.js';

/** Sync rounds on the runner: the interval, deferral under client load (throttled), and backoff after failures. */
describe('SyncScheduler', () => {
  const INTERVAL = 10_000;
  let timers: FakeTimers;
  let runner: WorkerRunnerService;
  let rounds: number[];
  let failing: boolean;
  let busy: boolean;
  let state: { recovering: boolean };

  beforeAll(() => Logger.overrideLogger(false));
  beforeEach(() => {
    timers = new FakeTimers(); // random() = 0.5: no jitter
    runner = new WorkerRunnerService(new MetricsService(), timers);
    rounds = [];
    failing = false;
    busy = false;
    state = { recovering: false };
    const sync = {
      runRound: async () => {
        rounds.push(timers.now());
        if (failing) throw new Error('peer gone');
      },
      idle: async () => undefined,
    };
    new SyncScheduler({ syncIntervalMs: INTERVAL } as NodeConfig, sync as unknown as SyncService, state as unknown as NodeStateService, { busy: () => busy } as ClientLoadService, runner);
  });

  async function run(ms: number): Promise<void> {
    await timers.advance(ms);
    await settle();
  }

  it('a recovering node starts after 500 ms and syncs every 2 s until it has caught up', async () => {
    state.recovering = true;
    busy = true; // a recovering node never waits for clients
    runner.onApplicationBootstrap();
    await run(4_600);
    expect(rounds).toEqual([500, 2500, 4500]);
  });

  it('a round due while clients are served waits in 250 ms steps, by at most a fifth of the interval', async () => {
    busy = true;
    runner.onApplicationBootstrap();
    await run(5_000 + 2_000 - 1); // first due at 5 s, deferred 8 × 250 ms
    expect(rounds).toEqual([]);
    expect(runner.state('sync')).toBe('throttled');
    await run(1);
    expect(rounds).toEqual([7_000]);
    busy = false;
    await run(INTERVAL);
    expect(rounds).toEqual([7_000, 17_000]);
  });

  it('rounds are never more than 5 minutes apart, whatever SYNC_INTERVAL_MS', async () => {
    const slow = new WorkerRunnerService(new MetricsService(), timers);
    const sync = { runRound: async () => void rounds.push(timers.now()), idle: async () => undefined };
    new SyncScheduler({ syncIntervalMs: 3_600_000 } as NodeConfig, sync as unknown as SyncService, state as unknown as NodeStateService, { busy: () => false } as ClientLoadService, slow);
    slow.onApplicationBootstrap();
    await run(5_000 + 2 * 300_000);
    expect(rounds).toEqual([5_000, 305_000, 605_000]);
  });

  it('failed rounds back off exponentially and reset on success', async () => {
    failing = true;
    runner.onApplicationBootstrap();
    await run(5_000 + 20_000 + 40_000);
    expect(rounds).toEqual([5_000, 25_000, 65_000]);
    failing = false;
    await run(80_000 + INTERVAL);
    expect(rounds).toEqual([5_000, 25_000, 65_000, 145_000, 155_000]);
  });
});
