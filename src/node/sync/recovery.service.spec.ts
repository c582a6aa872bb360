import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { Logger } from '@nestjs/common';
import { partitionOf } from '../storage/partition.js';
import { NodeStateService } from '../state/node-state.service.js';
import { SyncFreshness } from '../state/sync-freshness.js';
import { tombstone, type Entry } from '../storage/entry.js';
import { encodeVersion, ManualClock } from '../storage/hlc.js';
import { createMemoryStorage, type MemoryStorage } from '../storage/memory-store.js';
import { MemorySyncStateRepository } from '../storage/memory-repositories.js';
import { INLINE_MAX_BYTES } from '../storage/staging.js';
import type { RoundReport } from './anti-entropy.service.js';
import { RecoveryService } from './recovery.service.js';

const TTL = 60_000;
const T0 = 1_700_000_000_000;

/** One node's recovery over the memory store, a manual clock and a sync state that survives "restarts". */
class Node {
  state!: NodeStateService;
  recovery!: RecoveryService;

  constructor(
    readonly s: MemoryStorage,
    readonly clock: ManualClock,
    readonly syncState: MemorySyncStateRepository,
  ) {}

  static async create(opts: { syncState?: MemorySyncStateRepository; clock?: ManualClock; from?: Node } = {}): Promise<Node> {
    const clock = opts.clock ?? new ManualClock('n1', T0);
    const s = await createMemoryStorage({ clock, config: { tombstoneTtlMs: TTL }, index: opts.from?.s.index, blobs: opts.from?.s.blobs });
    if (opts.from) s.quarantine = opts.from.s.quarantine;
    const node = new Node(s, clock, opts.syncState ?? opts.from?.syncState ?? new MemorySyncStateRepository());
    await node.start();
    return node;
  }

  /** Builds the services as Nest would and runs the module-init hook. */
  async start(): Promise<void> {
    const freshness = new SyncFreshness(this.s.config, this.s.index, this.clock, this.syncState);
    this.state = new NodeStateService(freshness);
    this.recovery = new RecoveryService(this.s.config, this.s.store, this.state, freshness, this.s.quarantine, this.s.metrics);
    await this.recovery.onModuleInit();
  }

  async put(key: string, data: Buffer, ms: number): Promise<Entry> {
    const staged = await this.s.store.stage(Readable.from([data]), {});
    const entry: Entry = { key, version: encodeVersion(ms, 0, 'n1'), sha256: staged.sha256, size: staged.size, contentType: 'x/y', updatedAt: ms, deleted: false };
    await this.s.store.commit(entry, staged);
    return entry;
  }
}

/** A round that compared every partition, whose peers know `known` (per partition; absent = digests were equal). */
function report(owned: number[], known: Map<number, Set<string>>): RoundReport {
  return { peers: 1, differing: known.size, pulled: 0, bytes: 0, covered: new Set(owned), knownByPeers: known };
}

const ALL = Array.from({ length: 16 }, (_, p) => p); // partitionBits 4

describe('RecoveryService', () => {
  beforeAll(() => Logger.overrideLogger(false));

  describe('at start-up', () => {
    it('an empty store counts as in sync from now (and says so on disk): it starts ready', async () => {
      const node = await Node.create();
      expect(node.state.current).toBe('ready');
      expect(node.recovery.lastFullSyncAt()).toBe(T0);
      expect(node.syncState.get()).toEqual({ lastFullSyncAt: T0 });
    });

    it('a store holding data but no sync time starts recovering', async () => {
      const first = await Node.create();
      await first.put('k', Buffer.from('v'), T0);
      const restarted = await Node.create({ from: first, syncState: new MemorySyncStateRepository() });
      expect(restarted.state.current).toBe('recovering');
      expect(restarted.state.recovering).toBe(true);
    });

    it('recovers when the last complete sync is older than the TTL, not when it is within it', async () => {
      const node = await Node.create();
      await node.put('k', Buffer.from('v'), T0);
      node.clock.advance(TTL);
      const within = await Node.create({ from: node, clock: node.clock });
      expect(within.state.current).toBe('ready');
      node.clock.advance(1);
      const stale = await Node.create({ from: node, clock: node.clock });
      expect(stale.state.current).toBe('recovering');
    });
  });

  it('a ready node turns recovering on the first read of its state once the TTL passes without a complete sync', async () => {
    const node = await Node.create();
    await node.put('k', Buffer.from('v'), T0);
    node.clock.advance(TTL);
    expect(node.state.recovering).toBe(false);
    node.clock.advance(1);
    expect(node.state.recovering).toBe(true);
    expect(node.recovery.isStale(node.clock.wallMs())).toBe(true);
  });

  describe('after a round', () => {
    it('records a complete round, throttling what it writes to disk to every min(TTL/10, 1 min)', async () => {
      const node = await Node.create();
      await node.recovery.afterRound(report(ALL, new Map()), ALL, T0 + 1000);
      expect(node.recovery.lastFullSyncAt()).toBe(T0 + 1000);
      expect(node.syncState.get()).toEqual({ lastFullSyncAt: T0 }); // 1 s after the last write: not yet
      await node.recovery.afterRound(report(ALL, new Map()), ALL, T0 + TTL / 10);
      expect(node.syncState.get()).toEqual({ lastFullSyncAt: T0 + TTL / 10 });
    });

    it('ignores a round that missed a partition it owns', async () => {
      const node = await Node.create();
      const partial = report(ALL, new Map());
      partial.covered.delete(3);
      await node.recovery.afterRound(partial, ALL, T0 + TTL);
      expect(node.recovery.lastFullSyncAt()).toBe(T0);
    });

    it('ends recovery after a complete round, quarantining old live entries no co-owner knows', async () => {
      const first = await Node.create();
      const big = randomBytes(INLINE_MAX_BYTES + 10);
      const oldUnknown = await first.put('old-unknown', big, T0 - 2 * TTL);
      const oldInline = await first.put('old-inline', Buffer.from('small'), T0 - 2 * TTL);
      const oldKnown = await first.put('old-known', Buffer.from('known'), T0 - 2 * TTL);
      const recent = await first.put('recent', Buffer.from('recent'), T0 + 2 * TTL - 1000); // within the TTL of the round below
      await first.s.store.commit(tombstone('old-tombstone', encodeVersion(T0 - 2 * TTL, 0, 'n1'), 1));
      first.clock.set(T0 + 2 * TTL);
      const node = await Node.create({ from: first, clock: first.clock });
      expect(node.state.current).toBe('recovering');

      // Every key's partition differed; the co-owner knew only 'old-known'.
      const known = new Map<number, Set<string>>();
      for (const e of node.s.store.scanPage('', undefined, 100).entries) {
        const p = partitionOf(e.key, 4);
        if (!known.has(p)) known.set(p, new Set());
        if (e.key === 'old-known') known.get(p)!.add(e.key);
      }
      const startedAt = node.clock.wallMs();
      await node.recovery.afterRound(report(ALL, known), ALL, startedAt, true);

      expect(node.state.current).toBe('ready');
      expect(node.recovery.listQuarantined(10).map((e) => e.key)).toEqual(['old-inline', 'old-unknown']);
      expect(node.recovery.quarantinedCount()).toBe(2);
      expect(node.s.store.get('old-unknown')).toBeUndefined();
      expect(node.s.store.get('old-inline')).toBeUndefined();
      expect(await node.s.store.hasBlob(oldUnknown.sha256)).toBe(false); // purged from the store…
      expect(node.s.blobs.keptAside.get(oldUnknown.sha256)?.equals(big)).toBe(true); // …its bytes kept aside
      expect(node.s.blobs.keptAside.get(oldInline.sha256)?.toString()).toBe('small');
      expect(node.s.store.get('old-known')).toEqual(oldKnown);
      expect(node.s.store.get('recent')).toEqual(recent);
      expect(node.s.store.get('old-tombstone')?.deleted).toBe(true); // tombstone GC's business, not quarantine's
      expect(node.syncState.get()).toEqual({ lastFullSyncAt: startedAt });
    });

    it('does not end a recovery that began during the round (the process was paused mid-round)', async () => {
      const node = await Node.create();
      await node.put('k', Buffer.from('v'), T0);
      node.clock.advance(TTL + 1);
      expect(node.state.recovering).toBe(true);
      await node.recovery.afterRound(report(ALL, new Map()), ALL, T0 + 10, false);
      expect(node.state.current).toBe('recovering');
      expect(node.recovery.lastFullSyncAt()).toBe(T0);
    });
  });
});
