import { finished } from 'node:stream/promises';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { ClientLoadService } from '../../common/metrics/client-load.service.js';
import { MetricsService } from '../../common/metrics/metrics.service.js';
import { WorkerRunnerService } from '../../common/workers/worker-runner.service.js';
import type { Worker, WorkerSchedule, WorkResult } from '../../common/workers/worker.js';
import type { Entry } from '../storage/entry.js';
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
/**
 * The scrub waits while clients are served, or were within the last QUIET_MS (between the batches that feed a
 * loaded owner), in steps of YIELD_STEP_MS, but never longer than MAX_YIELD_MS per file.
 */
const QUIET_MS = 250;
const YIELD_STEP_MS = 100;
const MAX_YIELD_MS = 2_000;
/** Pause after start-up, and between passes. */
const FIRST_DELAY_MS = 5_000;
const PASS_PAUSE_MS = 10_000;

/**
 * Bit-rot detection (DESIGN §3): re-hashes every stored blob at SCRUB_BYTES_PER_SEC, round after round. A mismatch
 * quarantines the blob and triggers a re-fetch from an owner (through the store's corruption hook).
 *
 * A worker on the runner: each step verifies files until the bytes read are worth a pause at SCRUB_BYTES_PER_SEC,
 * then reports `throttled` with that pause; it is `throttled` too while clients are served, and `idle` between passes.
 */
@Injectable()
export class ScrubService implements Worker {
  readonly name = 'scrub';
  readonly schedule: WorkerSchedule = { firstDelayMs: FIRST_DELAY_MS, idleDelayMs: PASS_PAUSE_MS };
  private readonly logger = new Logger(ScrubService.name);
  private readonly bytes;
  private readonly passes;
  private readonly yielded;
  /** sha256 values verified in the current pass, so a blob shared by many keys is read once per pass. */
  private seen = new Set<string>();
  /** Where the pass is: the page being worked through, and the next entry in it. */
  private page: Entry[] = [];
  private index = 0;
  private truncated = false;
  private cursor?: string;
  /** Pause owed for the bytes read since the last one. */
  private debtMs = 0;
  /** How long the current file has waited for clients. */
  private waitedMs = 0;

  constructor(
    @Inject(APP_CONFIG) private readonly config: NodeConfig,
    private readonly store: LocalStoreService,
    private readonly load: ClientLoadService,
    metrics: MetricsService,
    runner: WorkerRunnerService,
  ) {
    this.bytes = metrics.counter({ name: 'shoal_scrub_bytes_total', help: 'bytes re-hashed by the scrubber' });
    this.passes = metrics.counter({ name: 'shoal_scrub_passes_total', help: 'complete scrub passes over every blob' });
    this.yielded = metrics.counter({ name: 'shoal_scrub_yield_seconds_total', help: 'time the scrubber paused because clients were being served or the event loop lagged' });
    if (config.scrubBytesPerSec > 0) runner.register(this);
  }

  async work(): Promise<WorkResult> {
    for (;;) {
      if (this.index >= this.page.length) {
        if (this.page.length > 0 && !this.truncated) return this.endPass();
        const page = this.store.scanPage('', this.cursor, STEP);
        this.page = page.entries;
        this.index = 0;
        this.truncated = page.truncated;
        if (page.entries.length > 0) this.cursor = page.entries[page.entries.length - 1].key;
        if (page.entries.length === 0) return this.endPass();
        continue;
      }
      const e = this.page[this.index];
      if (e.deleted || this.seen.has(e.sha256)) {
        this.index++;
        continue;
      }
      // Background work comes second: while requests are in flight, were a moment ago, or the event loop lags, wait
      // — but at most MAX_YIELD_MS per file, so that a node under constant load still scrubs (slowly) rather than never.
      if (this.load.activeWithin(QUIET_MS) && this.waitedMs < MAX_YIELD_MS) {
        this.waitedMs += YIELD_STEP_MS;
        this.yielded.inc(YIELD_STEP_MS / 1000);
        return { state: 'throttled', delayMs: YIELD_STEP_MS };
      }
      this.waitedMs = 0;
      this.index++;
      this.seen.add(e.sha256);
      await this.verify(e);
      this.bytes.inc(e.size);
      // Rate limit: sleep off the time the bytes read are worth at SCRUB_BYTES_PER_SEC, once it adds up to a
      // pause a timer can keep (a 1 ms floor per small file would make the rate depend on file sizes).
      this.debtMs += (e.size / this.config.scrubBytesPerSec) * 1000 + PER_FILE_MS;
      if (this.debtMs >= MIN_PAUSE_MS) {
        const pause = Math.min(this.debtMs, 60_000);
        this.debtMs = 0;
        return { state: 'throttled', delayMs: pause };
      }
    }
  }

  private endPass(): WorkResult {
    this.passes.inc();
    this.seen = new Set();
    this.page = [];
    this.index = 0;
    this.cursor = undefined;
    return { state: 'idle', delayMs: PASS_PAUSE_MS };
  }

  private async verify(e: Entry): Promise<void> {
    if (!(await this.store.hasBlob(e.sha256))) return;
    const stream = this.store.openRead(e, undefined, 'scrub');
    stream.resume();
    try {
      await finished(stream);
    } catch (err) {
      if (!(err instanceof CorruptBlobError)) this.logger.warn({ key: e.key, err }, 'scrub read failed');
    }
  }
}
