import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { NodeIdentity } from '../identity/node-identity.js';
import { NODE_STATS } from './node-stats.js';
import { BLOB_STORE } from './blob-store.js';
import { DiskBlobStore } from './disk-blob-store.js';
import { ENTRY_INDEX, type EntryIndex } from './entry-index.js';
import { CLOCK, HybridLogicalClock } from './hlc.js';
import { LmdbEntryIndex } from './lmdb-entry-index.js';
import { LocalStoreService } from './local-store.service.js';
import { MemoryBlobStore } from './memory-blob-store.js';
import { MemoryEntryIndex } from './memory-entry-index.js';
import { HINT_REPOSITORY, type HintRepository } from './repositories.js';
import { storageProviders } from './storage.providers.js';

/** The wiring Nest does in a node: which implementation each token gets, and that the LMDB environment closes last. */
describe('storageProviders', () => {
  let dataDir: string;

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'shoal-wiring-'));
  });

  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  async function app(impl: 'disk' | 'memory') {
    const config = { role: 'node', dataDir, partitionBits: 4 } as NodeConfig;
    @Module({
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: NodeIdentity, useValue: new NodeIdentity('n1', 'http://x') },
        MetricsService,
        ...storageProviders(impl),
        LocalStoreService,
        { provide: NODE_STATS, useExisting: LocalStoreService },
      ],
    })
    class TestModule {}
    const ctx = await NestFactory.createApplicationContext(TestModule, { logger: false });
    await ctx.init();
    return ctx;
  }

  it.each([
    ['disk', LmdbEntryIndex, DiskBlobStore],
    ['memory', MemoryEntryIndex, MemoryBlobStore],
  ] as const)('%s: a working store over the chosen implementations, with the HLC as its clock', async (impl, Index, Blobs) => {
    const ctx = await app(impl);
    try {
      expect(ctx.get(ENTRY_INDEX)).toBeInstanceOf(Index);
      expect(ctx.get(BLOB_STORE)).toBeInstanceOf(Blobs);
      expect(ctx.get(CLOCK)).toBeInstanceOf(HybridLogicalClock);
      const store = ctx.get(LocalStoreService);
      expect(ctx.get(NODE_STATS)).toBe(store);
      expect(store.clock).toBe(ctx.get(CLOCK));
      const staged = await store.stage(Readable.from([Buffer.alloc(20_000, 1)]), {});
      const r = await store.commit({ key: 'k', version: store.clock.now(), sha256: staged.sha256, size: staged.size, contentType: 'x/y', updatedAt: 1, deleted: false }, staged);
      expect(r.applied).toBe(true);
      await ctx.get<HintRepository>(HINT_REPOSITORY).put(['n2', 'k'], store.get('k')!.version);
      expect(ctx.get<HintRepository>(HINT_REPOSITORY).getCount()).toBe(1);
    } finally {
      await ctx.close();
    }
  });

  it('disk: closing the application closes the LMDB environment, and a new one reopens the same data', async () => {
    const first = await app('disk');
    const index = first.get<EntryIndex>(ENTRY_INDEX);
    await first.get<HintRepository>(HINT_REPOSITORY).put(['n2', 'k'], 'v');
    await first.close();
    expect(() => index.get('k')).toThrow();
    const second = await app('disk');
    try {
      expect([...second.get<HintRepository>(HINT_REPOSITORY).getRange({})]).toEqual([{ key: ['n2', 'k'], value: 'v' }]);
    } finally {
      await second.close();
    }
  });
});
