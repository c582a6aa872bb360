import { MetricsService } from '../../common/metrics/metrics.service.js';
import { NodeIdentity } from '../identity/node-identity.js';
import type { Member } from '../membership/merge.js';
import type { PlacementService } from '../placement/placement.service.js';
import type { Entry } from '../storage/entry.js';
import type { LocalStoreService } from '../storage/local-store.service.js';
import type { NodeStateService } from '../state/node-state.service.js';
import type { DeliveryPurpose, DeliveryService } from './delivery.service.js';
import { OutboxService } from './outbox.service.js';

const member = (id: string, status: Member['status'] = 'up'): Member => ({ id, url: `http://${id}.test`, status, lastHeartbeatAt: '', freeBytes: 0, files: 0 });
const entry = (key: string): Entry => ({ key, version: `v-${key}`, sha256: 'ab'.repeat(32), size: 1, contentType: 'text/plain', updatedAt: 0, deleted: false });

/** Owners that confirm whatever is in their `holds` set (an unreachable owner confirms nothing, as DeliveryService). */
class FakeDelivery {
  readonly sent: { owner: string; keys: string[]; purpose: DeliveryPurpose }[] = [];
  readonly holds = new Map<string, Set<string>>();

  async deliverMissing(to: Member, entries: Entry[], purpose: DeliveryPurpose): Promise<Entry[]> {
    this.sent.push({ owner: to.id, keys: entries.map((e) => e.key), purpose });
    const held = this.holds.get(to.id) ?? new Set();
    return entries.filter((e) => held.has(e.key));
  }
}

/** Specs for the shared "deliver to owners, drop once every owner confirmed" rule (handoff and handover). */
describe('OutboxService', () => {
  let delivery: FakeDelivery;
  let purged: string[];
  let owned: Set<string>;
  let state: { recovering: boolean };
  let metrics: MetricsService;
  let outbox: OutboxService;

  beforeEach(() => {
    delivery = new FakeDelivery();
    purged = [];
    owned = new Set();
    state = { recovering: false };
    metrics = new MetricsService();
    const store = { purge: async (e: Entry) => (purged.push(e.key), { applied: true, freed: [] }) };
    // A key "owned" here maps to partition 1, which this node owns; every other key to partition 0.
    const placement = {
      partitionOf: (key: string) => (owned.has(key) ? 1 : 0),
      isOwner: (p: number) => p === 1,
      ownersOfKey: () => [member('self'), member('b'), member('c')],
    };
    outbox = new OutboxService(
      new NodeIdentity('self', 'http://self.test'),
      store as unknown as LocalStoreService,
      placement as unknown as PlacementService,
      delivery as unknown as DeliveryService,
      state as unknown as NodeStateService,
      metrics,
    );
  });

  const droppedMetric = async () => (await metrics.registry.getSingleMetric('shoal_handover_dropped_total')!.get()).values[0]?.value ?? 0;

  it('drops a copy once every owner confirmed it, and only then', async () => {
    delivery.holds.set('b', new Set(['k1', 'k2']));
    delivery.holds.set('c', new Set(['k1']));
    const dropped = await outbox.deliver([member('b'), member('c')], [entry('k1'), entry('k2')], 'handover');
    expect(dropped).toBe(1);
    expect(purged).toEqual(['k1']); // k2: c has not confirmed it, so the local copy stays
    expect(delivery.sent).toEqual([
      { owner: 'b', keys: ['k1', 'k2'], purpose: 'handover' },
      { owner: 'c', keys: ['k1', 'k2'], purpose: 'handover' },
    ]);
    expect(await droppedMetric()).toBe(1);
  });

  it('keeps everything while an owner is unreachable or not up; sends nothing to a down owner', async () => {
    delivery.holds.set('b', new Set(['k1']));
    expect(await outbox.deliver([member('b'), member('c')], [entry('k1')], 'handover')).toBe(0); // c confirms nothing
    expect(await outbox.deliver([member('b'), member('c', 'down')], [entry('k1')], 'handover')).toBe(0);
    expect(await outbox.deliver([member('b'), member('c', 'stopped')], [entry('k1')], 'handover')).toBe(0);
    expect(purged).toEqual([]);
    expect(delivery.sent.map((s) => s.owner)).toEqual(['b', 'c', 'b', 'b']);
  });

  it('never delivers to itself nor counts itself among the owners', async () => {
    delivery.holds.set('b', new Set(['k1']));
    expect(await outbox.deliver([member('self'), member('b')], [entry('k1')], 'handover')).toBe(1);
    expect(delivery.sent.map((s) => s.owner)).toEqual(['b']);
    // With no owner but itself there is nobody to confirm: nothing is dropped.
    expect(await outbox.deliver([member('self')], [entry('k2')], 'handover')).toBe(0);
    expect(purged).toEqual(['k1']);
  });

  it('never drops a copy in a partition this node owns', async () => {
    owned.add('k1');
    delivery.holds.set('b', new Set(['k1']));
    expect(await outbox.deliver([member('b')], [entry('k1')], 'handoff')).toBe(0);
    expect(purged).toEqual([]);
  });

  it('reports each confirmation before any drop, and keeps what is still owed elsewhere', async () => {
    delivery.holds.set('b', new Set(['k1', 'k2']));
    const events: string[] = [];
    const dropped = await outbox.deliver([member('b')], [entry('k1'), entry('k2')], 'handoff', {
      confirmed: async (owner, e) => {
        events.push(`confirmed ${owner.id} ${e.key}@${e.version}`);
      },
      owedElsewhere: (e) => {
        events.push(`owed? ${e.key}`);
        return e.key === 'k2'; // a hint for another owner is still pending
      },
    });
    expect(dropped).toBe(1);
    expect(purged).toEqual(['k1']);
    expect(events).toEqual(['confirmed b k1@v-k1', 'confirmed b k2@v-k2', 'owed? k1', 'owed? k2']);
  });

  it('pushes nothing while recovering', async () => {
    state.recovering = true;
    delivery.holds.set('b', new Set(['k1']));
    expect(outbox.paused()).toBe(true);
    expect(await outbox.deliver([member('b')], [entry('k1')], 'handover')).toBe(0);
    expect(delivery.sent).toEqual([]);
    expect(purged).toEqual([]);
  });

  it('re-aims at the current owners other than itself', () => {
    expect(outbox.ownersOf('k').map((m) => m.id)).toEqual(['b', 'c']);
  });
});
