/**
 * Clock discipline (DESIGN §3 Clocks). Each heartbeat carries the node's wall clock when it was sent
 * (`wallClockMs`) and the round trip its previous heartbeat took (`rttMs`, measured on the node's monotonic clock,
 * so a skewed wall clock does not distort it). For each heartbeat the registry then estimates
 *
 *   clockOffsetMs = registry's clock on receipt − (wallClockMs + that heartbeat's round trip / 2)
 *
 * i.e. its own clock minus the node's, with the one-way delay taken as half the round trip. Positive: the node is
 * behind. The error of the estimate is at most half the round-trip asymmetry, which is far below MAX_CLOCK_SKEW_MS.
 */

/**
 * One heartbeat's measurement. `raw` = receipt − wallClockMs: the offset plus the heartbeat's one-way delay.
 * `estimate` = raw corrected by half of *this* heartbeat's round trip (`rttMs`), which the node learns only when the
 * answer arrives and reports with its next heartbeat: until then both are unknown. The node starts timing the round
 * trip when it reads its clock, so every delay on the way — a stalled event loop on either side included — is inside
 * `rttMs`, and the estimate is off by at most half of it.
 */
export interface ClockSample {
  raw: number;
  estimate?: number;
  /** this heartbeat's round trip; absent when the node did not report one (or in a sample recorded before it was kept) */
  rttMs?: number;
}

/** Heartbeats a registry keeps per node to judge its clock; at least {@link MIN_SAMPLES} complete ones before it judges at all. */
export const CLOCK_WINDOW = 8;
export const MIN_SAMPLES = 3;

/**
 * The offset of a node from its recent heartbeats: the estimate of the heartbeat with the shortest round trip, whose
 * error bound (half its round trip) is the tightest — the clock filter of NTP; among equal round trips (or none
 * reported) the least delayed one, since a delay before the registry reads its clock adds to `raw`, never subtracts.
 * A stall on either side therefore never makes a node look skewed: one before the registry's receipt lengthens both
 * `raw` and the round trip; one after it (the answer late, or the node slow to read it) shortens the estimate by half
 * the stall, but also lengthens that heartbeat's round trip, so it is not the one chosen. Undefined until
 * {@link MIN_SAMPLES} heartbeats have their estimate.
 */
export function filterOffset(samples: readonly ClockSample[]): number | undefined {
  let best: ClockSample | undefined;
  let complete = 0;
  const rttOf = (s: ClockSample) => s.rttMs ?? Number.POSITIVE_INFINITY;
  for (const s of samples) {
    if (s.estimate === undefined) continue;
    complete++;
    if (!best || rttOf(s) < rttOf(best) || (rttOf(s) === rttOf(best) && s.raw < best.raw)) best = s;
  }
  return complete >= MIN_SAMPLES ? best?.estimate : undefined;
}

/**
 * Records heartbeat k, received at `receivedAtMs`. It carries the round trip of heartbeat k−1 (`prevRttMs`), which
 * completes the previous sample's estimate; its own waits for the next heartbeat. Correcting a heartbeat by another
 * one's round trip would be wrong in exactly the case that matters: after one slow round trip (a stalled event loop
 * on a busy machine) the next, fast heartbeat would look half that round trip ahead of the registry, and a healthy
 * node could be flagged. Keeps the last {@link CLOCK_WINDOW}.
 */
export function recordHeartbeat(samples: readonly ClockSample[] | undefined, receivedAtMs: number, wallClockMs: number, prevRttMs?: number): ClockSample[] {
  const out = [...(samples ?? [])];
  const last = out[out.length - 1];
  if (last && last.estimate === undefined) {
    const rttMs = prevRttMs === undefined ? undefined : Math.max(0, prevRttMs);
    out[out.length - 1] = rttMs === undefined ? { raw: last.raw, estimate: last.raw } : { raw: last.raw, estimate: Math.round(last.raw - rttMs / 2), rttMs };
  }
  out.push({ raw: receivedAtMs - wallClockMs });
  return out.slice(-CLOCK_WINDOW);
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
