import { finished } from 'node:stream/promises';
import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { ClientLoadService } from '../../common/metrics/client-load.service.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { LocalStoreService } from '../storage/local-store.service.js';
import { CorruptBlobError } from '../storage/verify-stream.js';

/** Entries read from the metadata store per step of the scrub. */
const STEP = 100;
/** Pauses shorter than this are accumulated. */
const MIN_PAUSE_MS = 50;
/**
 * Each file costs an open, a stat and a metadata read whatever its size: paced by entries as well as by bytes, at
 * most 1 000 files/s (at 0.2 ms a file it re-read 4 KiB files at ≈ 3.5k/s and took 2–4.5 % of a loaded node's CPU).
 */
const PER_FILE_MS = 1;
/** While clients are served the scrub waits in steps of this, but never longer than MAX_YIELD_MS per file. */
const YIELD_STEP_MS = 100;
const MAX_YIELD_MS = 2_000;

/**
 * Bit-rot detection (DESIGN §3): re-hashes every stored blob at SCRUB_BYTES_PER_SEC, round after round. A mismatch
 * quarantines the blob and triggers a re-fetch from an owner (through the store's corruption hook).
 */
@Injectable()
export class ScrubService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(ScrubService.name);
  private stopped = false;
  private wake?: () => void;
  private loop?: Promise<void>;
  private readonly bytes;
  private readonly passes;
  private readonly yielded;
  /** sha256 values verified in the current pass, so a blob shared by many keys is read once per pass. */
  private seen = new Set<string>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: NodeConfig,
    private readonly store: LocalStoreService,
    private readonly load: ClientLoadService,
    metrics: MetricsService,
  ) {
    this.bytes = metrics.counter({ name: 'shoal_scrub_bytes_total', help: 'bytes re-hashed by the scrubber' });
    this.passes = metrics.counter({ name: 'shoal_scrub_passes_total', help: 'complete scrub passes over every blob' });
    this.yielded = metrics.counter({ name: 'shoal_scrub_yield_seconds_total', help: 'time the scrubber paused because clients were being served or the event loop lagged' });
  }

  onApplicationBootstrap(): void {
    if (this.config.scrubBytesPerSec === 0) return;
    this.loop = this.run().catch((err: unknown) => this.logger.error({ err }, 'scrubber stopped'));
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    await this.sleep(5000);
    let cursor: string | undefined;
    let debtMs = 0;
    while (!this.stopped) {
      const page = this.store.scanPage('', cursor, STEP);
      for (const e of page.entries) {
        if (this.stopped) return;
        if (e.deleted || this.seen.has(e.sha256)) continue;
        this.seen.add(e.sha256);
        await this.yieldToClients();
        await this.verify(e);
        this.bytes.inc(e.size);
        // Rate limit: sleep off the time the bytes read are worth at SCRUB_BYTES_PER_SEC, once it adds up to a
        // pause a timer can keep (a 1 ms floor per small file would make the rate depend on file sizes).
        debtMs += (e.size / this.config.scrubBytesPerSec) * 1000 + PER_FILE_MS;
        if (debtMs >= MIN_PAUSE_MS) {
          await this.sleep(debtMs);
          debtMs = 0;
        }
      }
      if (page.truncated) {
        cursor = page.entries[page.entries.length - 1].key;
        continue;
      }
      this.passes.inc();
      this.seen = new Set();
      cursor = undefined;
      await this.sleep(10_000);
    }
  }

  private async verify(e: Parameters<LocalStoreService['openRead']>[0]): Promise<void> {
    if (!(await this.store.hasBlob(e.sha256))) return;
    const stream = this.store.openRead(e, undefined, 'scrub');
    stream.resume();
    try {
      await finished(stream);
    } catch (err) {
      if (!(err instanceof CorruptBlobError)) this.logger.warn({ key: e.key, err }, 'scrub read failed');
    }
  }

  /**
   * Background work comes second: while requests are in flight or the event loop lags, wait — but at most
   * MAX_YIELD_MS per file, so that a node under constant load still scrubs (slowly) rather than never.
   */
  private async yieldToClients(): Promise<void> {
    let waited = 0;
    while (this.load.busy() && waited < MAX_YIELD_MS && !this.stopped) {
      await this.sleep(YIELD_STEP_MS);
      waited += YIELD_STEP_MS;
    }
    if (waited > 0) this.yielded.inc(waited / 1000);
  }

  /** A pause that shutdown cuts short. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, Math.min(ms, 60_000));
      t.unref();
      this.wake = done;
      function done(): void {
        clearTimeout(t);
        resolve();
      }
    });
  }

}
