/**
 * The chaos suite's model of what a client may observe of one key: a last-writer-wins register whose writes and
 * deletes are timed by the client (start before the request is sent, end once the answer is in) — pure functions,
 * no I/O, unit-tested in history.spec.ts.
 *
 * A Shoal version is taken by the coordinating node while the request is in flight (hybrid logical clock on the same
 * machine clock as the client), so if operation B starts after operation A has ended, B's version is higher and B
 * wins. Operations that overlap in time may be ordered either way.
 *
 * Writes come in three classes:
 *  - `ack`     — acknowledged (PUT 201, DELETE 204): it happened, and its effect ends only when a later write wins;
 *  - `maybe`   — the answer does not say (503 after the body was taken, 5xx, a timeout, a cut connection): it may
 *                or may not have happened; when no answer arrived at all its version may even have been taken after
 *                the client gave up (a paused coordinator resumes and carries on), so its `end` is `Infinity`;
 *  - `refused` — the node said nothing was written (503 INSUFFICIENT_REPLICAS without `replicas`): its bytes must
 *                never be seen.
 */

export type WriteClass = 'ack' | 'maybe' | 'refused';

/** A PUT (value = sha256 of the bytes) or a DELETE (value = null) of one key. */
export interface WriteOp {
  id: number;
  kind: 'put' | 'delete';
  /** sha256 hex of the bytes written, null for a delete */
  value: string | null;
  cls: WriteClass;
  /** ms (Date.now) just before the request was sent */
  start: number;
  /** ms when the answer was complete; Infinity when no answer came */
  end: number;
  /** the version the coordinator answered with (an acknowledged PUT says it; a 204 DELETE does not) */
  version?: string;
}

export interface Verdict {
  ok: boolean;
  /** why not, when not ok */
  kind?: 'invented-bytes' | 'refused-write-visible' | 'stale-read' | 'lost-write' | 'resurrected-delete';
  /** the values that would have been acceptable */
  allowed: (string | null)[];
  /** the acknowledged operations that no later acknowledged operation follows (the "last" ones) */
  latestAcked: WriteOp[];
}

/**
 * Whether `observed` (sha256, or null for 404) is a value a read of this key could return if it ran between
 * `readStart` and `readEnd`: it must be the value of a write (or of the initial absent state) that
 *  - did not definitely fail (`refused`),
 *  - started before the read ended, and
 *  - is not superseded for sure before the read started — i.e. no acknowledged write that ended before the read
 *    started began after it had ended.
 * For the state after the run, pass `readStart = readEnd = Infinity`.
 */
export function judge(ops: readonly WriteOp[], observed: string | null, readStart: number, readEnd: number): Verdict {
  // M: the latest start among acknowledged writes that ended before the read began. A write that ended before M
  // is superseded by that acknowledged write for this read.
  let m = -Infinity;
  for (const b of ops) if (b.cls === 'ack' && b.end < readStart && b.start > m) m = b.start;
  const allowed = new Set<string | null>();
  if (m === -Infinity) allowed.add(null); // the initial state: nothing acknowledged yet
  for (const o of ops) {
    if (o.cls === 'refused' || o.start >= readEnd) continue;
    if (o.end >= m) allowed.add(o.value);
  }
  const latestAcked = latestAcknowledged(ops, readStart);
  const verdict = { allowed: [...allowed], latestAcked };
  if (allowed.has(observed)) return { ok: true, ...verdict };
  return { ok: false, kind: explain(ops, observed, readEnd, latestAcked), ...verdict };
}

/** The acknowledged writes that ended before `before` and that no other such acknowledged write strictly follows. */
export function latestAcknowledged(ops: readonly WriteOp[], before = Infinity): WriteOp[] {
  const acked = ops.filter((o) => o.cls === 'ack' && o.end < before);
  let lastStart = -Infinity;
  for (const o of acked) if (o.start > lastStart) lastStart = o.start;
  return acked.filter((o) => o.end >= lastStart);
}

function explain(ops: readonly WriteOp[], observed: string | null, readEnd: number, latest: WriteOp[]): Verdict['kind'] {
  if (observed !== null) {
    const writers = ops.filter((o) => o.value === observed && o.start < readEnd);
    if (writers.length === 0) return 'invented-bytes';
    if (writers.every((o) => o.cls === 'refused')) return 'refused-write-visible';
  }
  if (readEnd !== Infinity) return 'stale-read';
  // After the run: what was lost — an acknowledged write, or a delete that came undone?
  if (observed !== null && latest.length > 0 && latest.every((o) => o.kind === 'delete')) return 'resurrected-delete';
  return 'lost-write';
}

/** Two acknowledged writes of one key in the wrong order: `later` started after `earlier` was acknowledged. */
export interface OrderViolation {
  earlier: WriteOp;
  later: WriteOp;
}

/**
 * The real-time-order property of owner-fenced versions (DESIGN §3 Versions): if write B started after write A was
 * acknowledged, B's version is higher than A's — so no acknowledged write is ever superseded by one that was
 * acknowledged before it started, whatever the nodes' clocks say. Checked over the acknowledged writes whose
 * version is known (PUT answers carry it); deletes are covered by the final-state check ({@link judge}), where a
 * delete that lost to an earlier write shows up as a resurrection.
 */
export function realTimeOrderViolations(ops: readonly WriteOp[]): OrderViolation[] {
  const acked = ops.filter((o) => o.cls === 'ack' && o.version !== undefined);
  const byEnd = [...acked].sort((a, b) => a.end - b.end);
  const byStart = [...acked].sort((a, b) => a.start - b.start);
  const out: OrderViolation[] = [];
  // Sweep the writes by start; `highest` is the acknowledged write with the highest version among those that
  // ended before the current one started.
  let i = 0;
  let highest: WriteOp | undefined;
  for (const b of byStart) {
    while (i < byEnd.length && byEnd[i].end < b.start) {
      if (!highest || byEnd[i].version! > highest.version!) highest = byEnd[i];
      i++;
    }
    if (highest && !(b.version! > highest.version!)) out.push({ earlier: highest, later: b });
  }
  return out;
}
