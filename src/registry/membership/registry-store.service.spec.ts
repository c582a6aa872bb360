import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Logger } from '@nestjs/common';
import { ShoalError } from '../../common/errors.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import type { RegistryConfig } from '../../config/app-config.js';
import { FakeTimers } from '../../common/workers/fake-timers.js';
import { WorkerRunnerService } from '../../common/workers/worker-runner.service.js';
import { RegistryStoreService } from './registry-store.service.js';

/** The registry's side of the lifecycle (DESIGN §3): stop, decommission, cancel, left, forget — and persistence. */
describe('RegistryStoreService lifecycle', () => {
  let dir: string;
  let store: RegistryStoreService;
  const config = (): RegistryConfig => ({ role: 'registry', dataDir: dir, nodeTtlMs: 10_000, nodeDeadMs: 600_000 }) as RegistryConfig;
  const reg = (id: string, zone?: string) => store.register({ id, url: `http://127.0.0.1/${id}`, capacityBytes: 100, freeBytes: 50, partitionBits: 10, ...(zone ? { zone } : {}) });
  const status = (id: string) => store.membership().nodes.find((n) => n.id === id)?.status;
  const code = async (p: Promise<unknown>) => p.then(() => 'ok', (err: unknown) => (err instanceof ShoalError ? err.code : String(err)));

  const newStore = () => {
    const metrics = new MetricsService();
    return new RegistryStoreService(config(), metrics, new WorkerRunnerService(metrics));
  };

  beforeAll(() => Logger.overrideLogger(false));
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'shoal-registry-spec-'));
    store = newStore();
    await store.onModuleInit();
  });
  afterEach(async () => {
    await store.onApplicationShutdown();
    await rm(dir, { recursive: true, force: true });
  });

  it('a stop makes the node stopped at once, and its next heartbeat up again', async () => {
    await reg('n1', 'a');
    const epoch = store.membership().epoch;
    await store.stop('n1');
    expect(status('n1')).toBe('stopped');
    expect(store.membership().epoch).toBeGreaterThan(epoch);
    expect(store.summary().nodes).toEqual({ up: 0, down: 0, dead: 0, stopped: 1, leaving: 0, left: 0 });
    store.heartbeat('n1', { freeBytes: 1, files: 0 });
    expect(status('n1')).toBe('up');
    expect(store.membership().nodes[0].zone).toBe('a');
  });

  it('a decommission is leaving until the node reports nothing left, then left; it survives a re-registration', async () => {
    await reg('n1');
    const started = await store.decommission('n1');
    expect(started).toEqual(expect.objectContaining({ status: 'leaving', decommission: { requestedAt: expect.any(String) } }));
    expect((await store.decommission('n1')).status).toBe('leaving'); // idempotent
    store.heartbeat('n1', { freeBytes: 1, files: 3, partitionsLeft: 2, entriesLeft: 5, bytesLeft: 300 });
    expect(store.membership().nodes[0].decommission).toEqual(expect.objectContaining({ partitionsLeft: 2, entriesLeft: 5, bytesLeft: 300 }));
    await store.stop('n1');
    expect(status('n1')).toBe('leaving'); // a stop does not end a decommission
    await reg('n1'); // restarted
    expect(status('n1')).toBe('leaving');
    store.heartbeat('n1', { freeBytes: 1, files: 0 }); // a heartbeat without a report changes nothing
    expect(status('n1')).toBe('leaving');
    store.heartbeat('n1', { freeBytes: 1, files: 0, partitionsLeft: 0, entriesLeft: 0, bytesLeft: 0 });
    expect(status('n1')).toBe('left');
    expect(store.membership().nodes[0].decommission).toEqual(expect.objectContaining({ leftAt: expect.any(String), entriesLeft: 0 }));
    expect(await code(store.cancelDecommission('n1'))).toBe('CONFLICT');
    expect(await code(store.decommission('n1'))).toBe('CONFLICT');
  });

  it('a cancel returns a leaving node to up; cancelling nothing is a conflict', async () => {
    await reg('n1');
    expect(await code(store.cancelDecommission('n1'))).toBe('CONFLICT');
    await store.decommission('n1');
    const back = await store.cancelDecommission('n1');
    expect(back.status).toBe('up');
    expect(back.decommission).toBeUndefined();
    store.heartbeat('n1', { freeBytes: 1, files: 0, entriesLeft: 0 }); // a late report from the node: ignored
    expect(status('n1')).toBe('up');
  });

  it('forgets only a node that is left or dead', async () => {
    await reg('n1');
    await reg('n2');
    expect(await code(store.remove('n1'))).toBe('NODE_HOLDS_DATA');
    await store.stop('n1');
    expect(await code(store.remove('n1'))).toBe('NODE_HOLDS_DATA');
    await store.decommission('n2');
    expect(await code(store.remove('n2'))).toBe('NODE_HOLDS_DATA');
    store.heartbeat('n2', { freeBytes: 1, files: 0, entriesLeft: 0 });
    expect(await code(store.remove('n2'))).toBe('ok');
    expect(await code(store.remove('n2'))).toBe('NODE_NOT_FOUND');
    expect(await code(store.stop('ghost'))).toBe('NODE_NOT_FOUND');
  });

  it('keeps stops and decommissions across a registry restart', async () => {
    await reg('n1');
    await reg('n2');
    await store.stop('n1');
    await store.decommission('n2');
    await store.onApplicationShutdown();
    store = newStore();
    await store.onModuleInit();
    expect(status('n1')).toBe('stopped');
    expect(status('n2')).toBe('leaving');
  });

  it('writes heartbeats through the save worker, at most once a second, and what is left at shutdown', async () => {
    const timers = new FakeTimers();
    const metrics = new MetricsService();
    const runner = new WorkerRunnerService(metrics, timers);
    await store.onApplicationShutdown();
    store = new RegistryStoreService(config(), metrics, runner);
    await store.onModuleInit();
    runner.onApplicationBootstrap();
    const saved = async () => (JSON.parse(await readFile(path.join(dir, 'registry.json'), 'utf8')) as { nodes: { freeBytes: number }[] }).nodes[0].freeBytes;
    await reg('n1'); // a registration is written at once
    store.heartbeat('n1', { freeBytes: 42, files: 0 });
    store.heartbeat('n1', { freeBytes: 43, files: 0 });
    expect(await saved()).toBe(50);
    await timers.advance(1000);
    await runner.idle('registry-save');
    expect(await saved()).toBe(43);
    store.heartbeat('n1', { freeBytes: 44, files: 0 });
    await runner.beforeApplicationShutdown();
    await store.onApplicationShutdown();
    expect(await saved()).toBe(44);
  });
});
