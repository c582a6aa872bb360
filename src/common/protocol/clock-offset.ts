/**
 * Clock discipline (DESIGN §3 Clocks). Each heartbeat carries the node's wall clock when it was sent
 * (`wallClockMs`) and the round trip its previous heartbeat took (`rttMs`, measured on the node's monotonic clock,
 * so a skewed wall clock does not distort it). The registry then estimates
 *
 *   clockOffsetMs = registry's clock on receipt − (wallClockMs + rttMs / 2)
 *
 * i.e. its own clock minus the node's, with the one-way delay taken as half the round trip. Positive: the node is
 * behind. The error of the estimate is at most half the round-trip asymmetry, which is far below MAX_CLOCK_SKEW_MS.
 */
export function estimateClockOffset(receivedAtMs: number, wallClockMs: number, rttMs = 0): number {
  return Math.round(receivedAtMs - (wallClockMs + Math.max(0, rttMs) / 2));
}

/** One heartbeat's measurement: `raw` = receipt − wallClockMs, `estimate` = raw corrected by half the round trip. */
export interface ClockSample {
  raw: number;
  estimate: number;
}

/** Heartbeats a registry keeps per node to judge its clock; at least {@link MIN_SAMPLES} before it judges at all. */
export const CLOCK_WINDOW = 8;
export const MIN_SAMPLES = 3;

/**
 * The offset of a node from its recent heartbeats. Every delay between the node reading its clock and the registry
 * reading its own — the network, a busy event loop on either side — adds to `raw`, never subtracts, so the least
 * delayed heartbeat (smallest `raw`) is the best one; its estimate is the offset (the clock filter of NTP). A
 * single stalled heartbeat therefore never makes a node look skewed. Undefined until {@link MIN_SAMPLES} arrived.
 */
export function filterOffset(samples: readonly ClockSample[]): number | undefined {
  if (samples.length < MIN_SAMPLES) return undefined;
  let best = samples[0];
  for (const s of samples) if (s.raw < best.raw) best = s;
  return best.estimate;
}

/** Appends a sample and keeps the last {@link CLOCK_WINDOW}. */
export function addSample(samples: readonly ClockSample[] | undefined, sample: ClockSample): ClockSample[] {
  return [...(samples ?? []), sample].slice(-CLOCK_WINDOW);
}

/** One registry's judgement: a node is off when its offset exceeds the bound either way. */
export function isClockSkewed(offsetMs: number | undefined, maxSkewMs: number): boolean {
  return offsetMs !== undefined && Math.abs(offsetMs) > maxSkewMs;
}

/** What one registry said of this node in its last answer. */
export interface ClockReport {
  clockOffsetMs?: number;
  clockSkewed?: boolean;
}

/**
 * The node's own verdict from the registries that answered: skewed only when every one of them that judged its
 * clock says so (one registry with a wrong clock of its own must not stop a healthy node). No judgement at all —
 * no registry reachable, or registries that predate clock discipline — leaves the node as it was.
 */
export function judgeOwnClock(reports: ClockReport[], previous: boolean): boolean {
  const judged = reports.filter((r) => typeof r.clockSkewed === 'boolean');
  if (judged.length === 0) return previous;
  return judged.every((r) => r.clockSkewed === true);
}
