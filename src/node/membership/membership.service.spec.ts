import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { loadConfig, type NodeConfig } from '../../config/app-config.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { FakeTimers, settle } from '../../common/workers/fake-timers.js';
import { WorkerRunnerService } from '../../common/workers/worker-runner.service.js';
import { NodeIdentity } from '../identity/node-identity.js';
import { NodeStateService } from '../state/node-state.service.js';
import { FakeRegistry } from './fake-registry.js';
import { MembershipService } from './membership.service.js';
import type { NodeStatsSource } from '../storage/node-stats.js';

/**
 * Heartbeats on virtual time, against in-memory registries, with a fixed wall clock. DATA_DIR does not exist: saving
 * membership.json fails (logged, as on a broken disk) and nothing touches a disk.
 */
describe('MembershipService heartbeats', () => {
  const INTERVAL = 2000;
  const WALL = Date.parse('2026-12-01T12:00:00Z');
  let timers: FakeTimers;
  let runner: WorkerRunnerService;
  let state: NodeStateService;
  let r1: FakeRegistry;
  let r2: FakeRegistry;
  let membership: MembershipService;

  const stats: NodeStatsSource = {
    stats: async () => ({ capacityBytes: 1000, freeBytes: 600, usedBytes: 400, files: 7 }),
    holdings: () => ({ partitions: 0, entries: 0, bytes: 0 }),
  };

  beforeAll(() => Logger.overrideLogger(false));
  beforeEach(() => {
    jest.spyOn(Date, 'now').mockReturnValue(WALL);
    timers = new FakeTimers();
    const metrics = new MetricsService();
    runner = new WorkerRunnerService(metrics, timers, 10_000);
    state = new NodeStateService();
    r1 = new FakeRegistry('http://r1.test');
    r2 = new FakeRegistry('http://r2.test');
    const config = loadConfig({ ROLE: 'node', CLUSTER_TOKEN: 't', DATA_DIR: '/nonexistent/shoal-membership-spec', REGISTRY_URL: `${r1.baseUrl},${r2.baseUrl}`, HEARTBEAT_INTERVAL_MS: String(INTERVAL) }) as NodeConfig;
    membership = new MembershipService(config, new NodeIdentity('n1', 'http://n1.test'), stats, state, metrics, runner, FakeRegistry.connector(r1, r2));
  });
  afterEach(() => jest.restoreAllMocks());

  /** Advances virtual time and lets the heartbeat step that it started finish. */
  async function advance(ms: number): Promise<void> {
    await timers.advance(ms);
    await runner.idle('heartbeat');
    await settle();
  }

  const ops = (r: FakeRegistry) => r.calls.map((c) => c.op);

  it('registers with every registry at bootstrap, then heartbeats each one every interval', async () => {
    runner.onApplicationBootstrap();
    await advance(0);
    expect(ops(r1)).toEqual(['register']);
    expect(ops(r2)).toEqual(['register']);
    expect(r1.calls[0]).toMatchObject({ dto: { id: 'n1', url: 'http://n1.test', capacityBytes: 1000, freeBytes: 600, partitionBits: 10 } });
    expect(membership.isKnown()).toBe(true);
    expect(membership.members().map((m) => `${m.id}:${m.status}`)).toEqual(['n1:up']);
    await advance(INTERVAL - 1);
    expect(ops(r1)).toEqual(['register']);
    await advance(1);
    expect(ops(r1)).toEqual(['register', 'heartbeat']);
    // The fixed wall clock goes out with every heartbeat, and the round trip of the last one from the second on.
    expect(r1.calls[1]).toMatchObject({ dto: { freeBytes: 600, files: 7, usedBytes: 400, wallClockMs: WALL } });
    await advance(INTERVAL);
    expect(r1.calls[2]).toMatchObject({ op: 'heartbeat', dto: { wallClockMs: WALL, rttMs: expect.any(Number) } });
    await advance(10 * INTERVAL);
    expect(ops(r2)).toEqual(['register', ...Array<string>(12).fill('heartbeat')]);
  });

  it('a slow registry never gets two heartbeats at once', async () => {
    runner.onApplicationBootstrap();
    await advance(0);
    let open!: () => void;
    r1.gate = new Promise<void>((r) => (open = r));
    await timers.advance(5 * INTERVAL);
    expect(ops(r1)).toEqual(['register']); // the one heartbeat waits at the gate
    open();
    r1.gate = undefined;
    await advance(0);
    expect(ops(r1)).toEqual(['register', 'heartbeat']);
    expect(ops(r2)).toEqual(['register', 'heartbeat']);
  });

  it('registers again when a registry lost its state, and keeps the last list while one is unreachable', async () => {
    runner.onApplicationBootstrap();
    await advance(0);
    r1.nodes.clear(); // restarted without its registry.json: it answers 404 to the heartbeat
    await advance(INTERVAL);
    expect(ops(r1)).toEqual(['register', 'heartbeat', 'register']);
    r1.down = new Error('ECONNREFUSED');
    r2.down = new Error('ECONNREFUSED');
    await advance(INTERVAL);
    expect(membership.members().map((m) => m.id)).toEqual(['n1']);
    expect(membership.registryStatus()).toEqual([
      expect.objectContaining({ url: r1.baseUrl, lastError: 'ECONNREFUSED' }),
      expect.objectContaining({ url: r2.baseUrl, lastError: 'ECONNREFUSED' }),
    ]);
    r1.down = undefined;
    await advance(INTERVAL);
    expect(membership.registryStatus()[0]).not.toHaveProperty('lastError');
  });

  it('publishes a change the registries report', async () => {
    const seen: string[][] = [];
    membership.changes.subscribe((ms) => seen.push(ms.map((m) => `${m.id}:${m.status}`)));
    runner.onApplicationBootstrap();
    await advance(0);
    await r1.register({ id: 'n2', url: 'http://n2.test', capacityBytes: 1, freeBytes: 1, partitionBits: 10 });
    await advance(INTERVAL);
    expect(seen.at(-1)).toEqual(['n1:up', 'n2:up']);
    expect(seen).toHaveLength(3); // [], [n1], [n1, n2]
  });

  it('on shutdown: stopping at once, the heartbeat in flight lands first, then the stop notice; no new beats', async () => {
    runner.onApplicationBootstrap();
    await advance(0);
    let open!: () => void;
    r1.gate = new Promise<void>((r) => (open = r));
    await timers.advance(INTERVAL); // a heartbeat is now in flight, held at r1
    const stopping = membership.beforeApplicationShutdown();
    expect(state.stopping).toBe(true);
    await settle();
    expect(ops(r2)).toEqual(['register', 'heartbeat']); // no stop notice yet: the round is still running
    open();
    await stopping;
    expect(ops(r1)).toEqual(['register', 'heartbeat', 'stop']);
    expect(ops(r2)).toEqual(['register', 'heartbeat', 'stop']);
    await timers.advance(10 * INTERVAL);
    expect(r1.calls).toHaveLength(3);
  });
});
