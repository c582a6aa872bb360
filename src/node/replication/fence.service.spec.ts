import { ShoalError } from '../../common/errors.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { NodeIdentity } from '../identity/node-identity.js';
import type { Member } from '../membership/merge.js';
import { NodeStateService } from '../state/node-state.service.js';
import { compareVersions, encodeVersion, HybridLogicalClock, type Version } from '../storage/hlc.js';
import type { LocalStoreService } from '../storage/local-store.service.js';
import { FenceService } from './fence.service.js';
import type { PeerClient, PeerRef } from '../peer/peer-client.js';

const HOUR = 3_600_000;
const T0 = 1_800_000_000_000;

/** The coordinator's store: its own clock (one hour behind here) and what it holds, nothing else. */
function fakeStore(clock: HybridLogicalClock, held: Map<string, Version> = new Map()): LocalStoreService {
  return { clock, newVersion: () => clock.now(), get: (key: string) => (held.has(key) ? { key, version: held.get(key)! } : undefined) } as unknown as LocalStoreService;
}

/** Peers answer a proposal with what they hold; `down` ones fail like an unreachable owner. */
function fakePeers(held: Record<string, Version | null>, down: string[] = [], onFence?: (url: string, v: Version) => void): PeerClient {
  return {
    fence: async ({ url }: PeerRef, _key: string, version: Version) => {
      onFence?.(url, version);
      if (down.includes(url)) throw Object.assign(new Error('timeout of 2000ms exceeded'), { code: 'ECONNABORTED' });
      return { held: held[url] ?? null };
    },
  } as unknown as PeerClient;
}

const member = (id: string): Member => ({ id, url: `http://${id}`, status: 'up', lastHeartbeatAt: '', freeBytes: 0, files: 0 });
const owners = [member('self'), member('a'), member('b')];

describe('FenceService.claim', () => {
  it('a coordinator an hour behind claims a version above the one an owner holds from a node an hour ahead', async () => {
    const clock = new HybridLogicalClock('self', () => T0 - HOUR);
    const ahead = encodeVersion(T0 + HOUR, 0, 'fast');
    const fence = new FenceService(new NodeIdentity('self', ''), fakeStore(clock), fakePeers({ 'http://a': ahead }), new NodeStateService(), new MetricsService());
    const v = await fence.claim('k', owners, 2);
    expect(compareVersions(v, ahead)).toBeGreaterThan(0);
  });

  it('keeps a proposal that every answering owner is below', async () => {
    const clock = new HybridLogicalClock('self', () => T0);
    const proposals: Version[] = [];
    const fence = new FenceService(new NodeIdentity('self', ''), fakeStore(clock), fakePeers({ 'http://a': encodeVersion(T0 - 5, 0, 'x') }, [], (_u, v) => proposals.push(v)), new NodeStateService(), new MetricsService());
    const v = await fence.claim('k', owners, 2);
    expect(new Set(proposals)).toEqual(new Set([v]));
  });

  it('counts its own copy: a coordinator that holds a newer version locally proposes above it', async () => {
    const clock = new HybridLogicalClock('self', () => T0);
    const mine = encodeVersion(T0 + HOUR, 3, 'self');
    const fence = new FenceService(new NodeIdentity('self', ''), fakeStore(clock, new Map([['k', mine]])), fakePeers({}), new NodeStateService(), new MetricsService());
    expect(compareVersions(await fence.claim('k', owners, 2), mine)).toBeGreaterThan(0);
  });

  it('refuses with 503 INSUFFICIENT_REPLICAS when fewer than W owners answer (nothing has been sent)', async () => {
    const clock = new HybridLogicalClock('self', () => T0);
    const fence = new FenceService(new NodeIdentity('self', ''), fakeStore(clock), fakePeers({}, ['http://a', 'http://b']), new NodeStateService(), new MetricsService());
    const err = await fence.claim('k', owners, 2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShoalError);
    expect((err as ShoalError).code).toBe('INSUFFICIENT_REPLICAS');
    expect((err as ShoalError).headers['Retry-After']).toBeDefined();
  });

  it('a recovering coordinator does not count its own word', async () => {
    const clock = new HybridLogicalClock('self', () => T0);
    const state = new NodeStateService();
    state.set('recovering');
    const fence = new FenceService(new NodeIdentity('self', ''), fakeStore(clock), fakePeers({}, ['http://b']), state, new MetricsService());
    await expect(fence.claim('k', owners, 2)).rejects.toMatchObject({ code: 'INSUFFICIENT_REPLICAS' });
  });

  it('gives up with 503 WRITE_CONFLICT when newer versions keep overtaking it', async () => {
    const clock = new HybridLogicalClock('self', () => T0);
    let bump = 0;
    const racing = { fence: async () => ({ held: encodeVersion(T0 + HOUR + ++bump * 1000, 0, 'other') }) } as unknown as PeerClient;
    const fence = new FenceService(new NodeIdentity('self', ''), fakeStore(clock), racing, new NodeStateService(), new MetricsService());
    await expect(fence.claim('k', [member('a'), member('b'), member('c')], 2)).rejects.toMatchObject({ code: 'WRITE_CONFLICT' });
  });
});
