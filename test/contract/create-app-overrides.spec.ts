import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import { loadConfig } from '../../src/config/app-config.js';
import { createApp } from '../../src/app.js';
import { FakeTimers } from '../../src/common/workers/fake-timers.js';
import { WORKER_TIMERS } from '../../src/common/workers/worker.js';
import { WorkerRunnerService } from '../../src/common/workers/worker-runner.service.js';
import { FakeRegistry } from '../../src/node/membership/fake-registry.js';
import { MembershipService } from '../../src/node/membership/membership.service.js';
import { REGISTRY_CONNECTOR } from '../../src/node/membership/registry-client.js';

/** `createApp(config, { overrides })` replaces providers anywhere in the module graph (here: in the node module and the workers module). */
describe('createApp with overrides', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-overrides-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a node built with a fake registry and fake timers heartbeats the fake, on virtual time', async () => {
    const registry = new FakeRegistry('http://registry.test');
    const timers = new FakeTimers();
    const config = loadConfig({ ROLE: 'node', CLUSTER_TOKEN: 'tok', LOG_LEVEL: 'silent', DATA_DIR: dir, REGISTRY_URL: registry.baseUrl, NODE_ID: 'n1', ADVERTISE_URL: 'http://127.0.0.1:1', HEARTBEAT_INTERVAL_MS: '60000', SCRUB_BYTES_PER_SEC: '0' });
    const { app } = await createApp(config, {
      logger: false,
      overrides: [
        { provide: REGISTRY_CONNECTOR, useValue: FakeRegistry.connector(registry) },
        { provide: WORKER_TIMERS, useValue: timers },
      ],
    });
    try {
      await app.init(); // bootstrap: the runner starts its workers; nothing listens
      const runner = app.get(WorkerRunnerService);
      await timers.advance(0);
      await runner.idle('heartbeat'); // the step itself does real I/O (disk stats, membership.json)
      expect(registry.calls.map((c) => c.op)).toEqual(['register']);
      const membership = app.get(MembershipService);
      expect(membership.members().map((m) => `${m.id}:${m.status}`)).toEqual(['n1:up']);
      expect(runner.state('heartbeat')).toBe('idle');
      // The next heartbeat is a minute of virtual time away, not of real time.
      await timers.advance(59_999);
      expect(registry.calls).toHaveLength(1);
      await timers.advance(1);
      await runner.idle('heartbeat');
      expect(registry.calls.map((c) => c.op)).toEqual(['register', 'heartbeat']);
    } finally {
      await app.close();
    }
    expect(registry.calls.at(-1)).toEqual({ op: 'stop', id: 'n1' });
  });
});
