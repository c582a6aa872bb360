import { Logger } from '@nestjs/common';
import type { NodeConfig } from '../../config/app-config.js';
import { FakeTimers } from '../../common/workers/fake-timers.js';
import { WorkerRunnerService } from '../../common/workers/worker-runner.service.js';
import type { MembershipService } from '../membership/membership.service.js';
import type { Member } from '../membership/merge.js';
import { MemoryHintRepository } from '../storage/memory-repositories.js';
import { HandoffService } from './handoff.service.js';
import { OutboxService } from './outbox.service.js';
import { bytes, cluster, counter, entryOf, hold, versionAt, type Cluster } from './replication.fixture.js';

/**
 * Hinted handoff over memory stores and FakePeers (the real owner code): a hint is delivered once its owner is up,
 * removed only when delivered, re-aimed when its owner left, and a coordinator that held a key only for others drops
 * its copy once no hint for it is left. Rounds are called directly (`work()`); the runner is never started.
 */
describe('HandoffService', () => {
  let c: Cluster;
  let hints: MemoryHintRepository;
  let handoff: HandoffService;

  beforeAll(() => Logger.overrideLogger(false));

  async function setUp(opts: Parameters<typeof cluster>[0] = {}): Promise<void> {
    c = await cluster(opts);
    hints = new MemoryHintRepository();
    const runner = new WorkerRunnerService(c.metrics, new FakeTimers());
    const membership = { changes: c.membership, members: () => c.membership.value } as unknown as MembershipService;
    const outbox = new OutboxService(c.self, c.local.store, c.placement, c.delivery, c.state, c.metrics);
    handoff = new HandoffService({ heartbeatIntervalMs: 1000 } as NodeConfig, c.local.store, membership, outbox, runner, hints, c.metrics);
  }

  /** A key and a live entry of it held by the coordinator, as a write that missed `owner` left it. */
  async function missed(owner: string, key = 'k1', ms = 1): Promise<ReturnType<typeof entryOf>> {
    const data = bytes(300, ms);
    const e = entryOf(key, data, versionAt(ms));
    await hold(c.local.store, e, data);
    await handoff.hint(owner, e);
    return e;
  }

  it('keeps a hint while its owner is down and delivers it, then removes it, once the owner is up', async () => {
    await setUp();
    c.setStatus('a', 'down');
    const e = await missed('a');
    expect(handoff.pending()).toBe(1);

    await handoff.work();
    expect(c.peer.a.version('k1')).toBeUndefined();
    expect(handoff.pending()).toBe(1);

    c.setStatus('a', 'up');
    await handoff.work();
    expect(c.peer.a.version('k1')).toBe(e.version);
    expect(handoff.pending()).toBe(0);
    expect(await counter(c, 'shoal_handoff_delivered_total')).toBe(1);
    // The coordinator owns the key (N = 3 of 3 members): its own copy stays.
    expect(c.local.store.get('k1')?.version).toBe(e.version);
  });

  it('does not send what the owner already holds (anti-entropy was faster), but still clears the hint', async () => {
    await setUp();
    const e = await missed('a');
    await c.peer.a.hold(e, bytes(300, 1));
    c.peer.a.calls.length = 0;
    await handoff.work();
    expect(c.peer.a.calls.filter((x) => x.startsWith('put'))).toEqual([]);
    expect(handoff.pending()).toBe(0);
  });

  it('an unreachable owner keeps its hint for the next round', async () => {
    await setUp();
    await missed('a');
    c.peer.a.down = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    await handoff.work();
    expect(handoff.pending()).toBe(1);
    c.peer.a.down = undefined;
    await handoff.work();
    expect(handoff.pending()).toBe(0);
  });

  it('a coordinator that owns nothing drops its copy only once every hint for the key is delivered', async () => {
    await setUp({ others: ['a', 'b'], n: 2, w: 1, selfOwner: false });
    c.setStatus('b', 'down');
    await missed('a');
    await handoff.hint('b', c.local.store.get('k1')!);

    await handoff.work();
    expect(c.peer.a.version('k1')).toBeDefined();
    expect(c.local.store.get('k1')).toBeDefined(); // b still waits for it
    expect(handoff.pending()).toBe(1);

    c.setStatus('b', 'up');
    await handoff.work();
    expect(c.peer.b.version('k1')).toBeDefined();
    expect(handoff.pending()).toBe(0);
    expect(c.local.store.get('k1')).toBeUndefined();
  });

  it('re-aims the hint of an owner that left at the key’s current owners', async () => {
    await setUp({ others: ['a', 'b', 'gone'], n: 3 });
    const owners = c.placement.ownersOfKey('k1').map((o) => o.id);
    const target = owners.find((id) => id !== 'self')!;
    await missed(target);
    // The target leaves the placement: the key's owners are now the others.
    c.membership.next(c.membership.value.map((m): Member => (m.id === target ? { ...m, status: 'left' } : m)));
    const successors = c.placement.ownersOfKey('k1').map((o) => o.id).filter((id) => id !== 'self');
    expect(successors).not.toContain(target);

    await handoff.work(); // re-aims
    await handoff.work(); // delivers
    for (const id of successors) expect(c.peer[id].version('k1')).toBeDefined();
    expect(c.peer[target].version('k1')).toBeUndefined();
    expect(handoff.pending()).toBe(0);
  });

  it('forgets a hint whose entry was purged here meanwhile (nothing left to deliver)', async () => {
    await setUp();
    c.setStatus('a', 'down');
    const e = await missed('a');
    await c.local.store.purge(e);
    await handoff.work();
    expect(handoff.pending()).toBe(0);
  });

  it('sends nothing while this node is recovering (it pulls from its co-owners first)', async () => {
    await setUp();
    await missed('a');
    c.state.set('recovering');
    await handoff.work();
    expect(c.peer.a.version('k1')).toBeUndefined();
    expect(handoff.pending()).toBe(1);
  });
});
