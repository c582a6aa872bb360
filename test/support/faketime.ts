import { existsSync } from 'node:fs';
import type { Env } from './processes.js';

/** libfaketime from the Debian package `faketime` (installed by .ci/run). */
export const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

export function faketimeAvailable(): boolean {
  return existsSync(LIBFAKETIME);
}

/**
 * The environment that runs a process with its wall clock shifted by `offset` (libfaketime syntax: `+1h`, `-90m`,
 * `+30s`). Monotonic clocks are left alone so that timers keep their pace: only `Date.now()` and friends move.
 */
export function faketimeEnv(offset: string): Env {
  return { LD_PRELOAD: LIBFAKETIME, FAKETIME: offset, FAKETIME_DONT_FAKE_MONOTONIC: '1' };
}

/** The same offset in milliseconds (for assertions); accepts what {@link faketimeEnv} accepts. */
export function offsetMs(offset: string): number {
  const m = /^([+-])(\d+(?:\.\d+)?)([smhd]?)$/.exec(offset);
  if (!m) throw new Error(`not a faketime offset: ${offset}`);
  const unit = { '': 1000, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[3] as '' | 's' | 'm' | 'h' | 'd'];
  return (m[1] === '-' ? -1 : 1) * Number(m[2]) * unit;
}
