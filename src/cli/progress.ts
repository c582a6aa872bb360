import { SingleBar } from 'cli-progress';
import type { CliConfig } from './cli-config.js';
import { formatBytes, type CliIo } from './output.js';

/** A transfer's progress display; a no-op one when there is nobody to show it to. */
export interface Progress {
  update(bytes: number): void;
  /** Replaces the ETA with a note, e.g. while the node stores the copies after the last byte went out. */
  note(text: string): void;
  /** Draws the final state (bytes, average rate, then `done in …` or the given outcome) and ends the line. */
  stop(outcome?: string): void;
}

const NO_PROGRESS: Progress = { update: () => undefined, note: () => undefined, stop: () => undefined };

/** The displayed rate covers the last few seconds, so it follows a transfer that speeds up or stalls. */
const RATE_WINDOW_MS = 3000;

/**
 * A progress bar on stderr with bytes, rate and ETA — only when stderr is a terminal and neither `--quiet` nor
 * `--json` was given: piped or redirected, the CLI prints no progress at all. `total` undefined (stdin) shows bytes
 * and rate without a bar or ETA.
 *
 * Rate and ETA are computed here rather than by cli-progress: its ETA averages the last N updates, and with one update
 * per 64 KiB chunk that spans a few milliseconds and jumps around.
 */
export function createProgress(config: CliConfig, io: CliIo, label: string, total: number | undefined): Progress {
  if (!io.stderr.isTTY || config.quiet || config.json) return NO_PROGRESS;
  const known = total !== undefined && total > 0;
  const bar = new SingleBar({
    stream: io.stderr as NodeJS.WriteStream,
    format: known ? `${label} [{bar}] {percentage}% | {done} / {size} | {speed} | {tail}` : `${label} {done} | {speed} | {tail}`,
    barsize: 30,
    hideCursor: false, // a hidden cursor would stay hidden after Ctrl-C
    fps: 8,
  });
  const started = Date.now();
  const samples: Array<[number, number]> = [[started, 0]];
  let last = 0;
  let note: string | undefined;
  let stopped = false;

  const payload = (final = false, outcome?: string) => {
    const now = Date.now();
    if (now - samples[samples.length - 1][0] >= 100) samples.push([now, last]);
    while (samples.length > 2 && now - samples[0][0] > RATE_WINDOW_MS) samples.shift();
    const [t0, b0] = samples[0];
    const windowRate = now > t0 ? ((last - b0) * 1000) / (now - t0) : 0;
    const averageRate = now > started ? (last * 1000) / (now - started) : 0;
    const rate = final ? averageRate : windowRate;
    let tail: string;
    if (final) tail = outcome ?? `done in ${formatDuration(now - started)}`;
    else if (note) tail = note;
    else if (!known) tail = `${formatDuration(now - started)} elapsed`;
    // The ETA uses the average since the start: steadier than the window, and right for a steady transfer.
    else tail = averageRate > 0 ? `ETA ${formatDuration(((total - last) * 1000) / averageRate)}` : 'ETA -';
    return { done: formatBytes(last), size: known ? formatBytes(total) : '', speed: `${formatBytes(rate)}/s`, tail };
  };

  // Unknown size: cli-progress still wants a total; the format shows none.
  bar.start(known ? total : 1, 0, payload());
  return {
    update(bytes) {
      last = bytes;
      bar.update(known ? bytes : 0, payload());
    },
    note(text) {
      note = text;
      bar.update(known ? last : 0, payload());
    },
    stop(outcome) {
      if (stopped) return;
      stopped = true;
      bar.update(known ? last : 0, payload(true, outcome));
      bar.stop();
    },
  };
}

/** `75000` → `1m15s`; `4200` → `4s`. */
function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
