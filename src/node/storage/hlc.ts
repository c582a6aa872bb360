/**
 * Versions come from a hybrid logical clock: (wall ms, counter, node id). They are encoded as fixed-width hex fields
 * so that plain string comparison is the total order — last writer wins, identically at every replica.
 */
export type Version = string;

const MS_WIDTH = 12; // hex digits: good until the year 10889
const COUNTER_WIDTH = 6;

export function encodeVersion(ms: number, counter: number, nodeId: string): Version {
  return `${ms.toString(16).padStart(MS_WIDTH, '0')}.${counter.toString(16).padStart(COUNTER_WIDTH, '0')}.${nodeId}`;
}

export function decodeVersion(v: Version): { ms: number; counter: number; nodeId: string } {
  const ms = parseInt(v.slice(0, MS_WIDTH), 16);
  const counter = parseInt(v.slice(MS_WIDTH + 1, MS_WIDTH + 1 + COUNTER_WIDTH), 16);
  return { ms, counter, nodeId: v.slice(MS_WIDTH + COUNTER_WIDTH + 2) };
}

export const VERSION_PATTERN = /^[0-9a-f]{12}\.[0-9a-f]{6}\.[A-Za-z0-9._-]{1,64}$/;

export function compareVersions(a: Version, b: Version): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Milliseconds of the version: when the write happened, as the writer saw it. */
export function versionTime(v: Version): number {
  return decodeVersion(v).ms;
}

/**
 * The node's source of versions and wall time. An I/O edge: the HLC in production, a {@link ManualClock} in specs.
 * Injected under {@link CLOCK}; the local store moves it past the high-water mark it persisted, at start-up.
 */
export interface Clock {
  /** A version greater than every version this clock has issued or observed. */
  now(): Version;
  /** Moves the clock past a version seen elsewhere (a peer's write, or the high-water mark kept on disk). */
  observe(v: Version): void;
  /** Wall-clock milliseconds since the epoch (what versions are stamped from, and what TTLs are measured by). */
  wallMs(): number;
}

export const CLOCK = Symbol('CLOCK');

export class HybridLogicalClock implements Clock {
  private ms = 0;
  private counter = 0;

  constructor(
    private readonly nodeId: string,
    private readonly wall: () => number = Date.now,
  ) {}

  now(): Version {
    const wall = this.wall();
    if (wall > this.ms) {
      this.ms = wall;
      this.counter = 0;
    } else {
      this.counter++;
    }
    return encodeVersion(this.ms, this.counter, this.nodeId);
  }

  observe(v: Version): void {
    const { ms, counter } = decodeVersion(v);
    if (ms > this.ms || (ms === this.ms && counter > this.counter)) {
      this.ms = ms;
      this.counter = counter;
    }
  }

  wallMs(): number {
    return this.wall();
  }
}

/** A clock for specs: wall time stands still until the spec moves it; versions still follow the HLC's rules. */
export class ManualClock implements Clock {
  private readonly hlc: HybridLogicalClock;

  constructor(
    nodeId = 'n1',
    private ms = 1_700_000_000_000,
  ) {
    this.hlc = new HybridLogicalClock(nodeId, () => this.ms);
  }

  now(): Version {
    return this.hlc.now();
  }

  observe(v: Version): void {
    this.hlc.observe(v);
  }

  wallMs(): number {
    return this.ms;
  }

  set(ms: number): void {
    this.ms = ms;
  }

  advance(ms: number): void {
    this.ms += ms;
  }
}
