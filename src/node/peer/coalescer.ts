import type { Outcome, PeerRef } from './peer-client.js';

export interface CoalescerLimits {
  /** items in one batch */
  maxItems: number;
  /** bytes of payload in one batch (as `sizeOf` counts them) */
  maxBytes: number;
  /** batches in flight to one peer at once; more items wait and travel together in the next */
  maxInFlight: number;
}

/** Sends one batch to a peer within `timeoutMs`; answers one outcome per item, in order, or rejects as a whole. */
export type BatchSender<I, O> = (peer: PeerRef, items: I[], timeoutMs: number) => Promise<Outcome<O>[]>;

interface Waiting<I, O> {
  item: I;
  bytes: number;
  /** when the caller's allowance runs out (Date.now() ms; Infinity: no limit) */
  deadline: number;
  resolve(value: O): void;
  reject(err: Error): void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

interface Lane<I, O> {
  peer: PeerRef;
  queue: Waiting<I, O>[];
  inFlight: number;
  /** a flush is scheduled for the end of this turn of the event loop */
  scheduled: boolean;
}

/**
 * Per-peer request coalescing (Garage's and Cassandra's write batching): an item for a peer with nothing in flight
 * goes out at the end of the current turn of the event loop (with whatever else arrived in that turn: no timer, so
 * the latency added at low load is a few microseconds); while a batch to that peer is in flight, new items queue and
 * leave together as soon as one returns. Batches are capped in items and bytes; each item keeps its own outcome and
 * its own deadline (time spent queued counts against it, and an item due before the others of its batch fails then).
 */
export class Coalescer<I, O> {
  private readonly lanes = new Map<string, Lane<I, O>>();

  constructor(
    private readonly send: BatchSender<I, O>,
    private readonly sizeOf: (item: I) => number,
    private readonly limits: CoalescerLimits,
    /** told the size of every batch sent (a metric) */
    private readonly onBatch: (items: number) => void = () => undefined,
  ) {}

  /** Items queued or in flight, over every peer (for specs and shutdown). */
  get pending(): number {
    let n = 0;
    for (const l of this.lanes.values()) n += l.queue.length + l.inFlight;
    return n;
  }

  submit(peer: PeerRef, item: I, timeoutMs: number, signal?: AbortSignal): Promise<O> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    let lane = this.lanes.get(peer.id);
    if (!lane) {
      lane = { peer, queue: [], inFlight: 0, scheduled: false };
      this.lanes.set(peer.id, lane);
    }
    lane.peer = peer; // the latest URL the membership gave
    const l = lane;
    return new Promise<O>((resolve, reject) => {
      const w: Waiting<I, O> = { item, bytes: this.sizeOf(item), deadline: timeoutMs > 0 ? Date.now() + timeoutMs : Infinity, resolve, reject, signal };
      if (signal) {
        // Given up before it was sent: it leaves the queue and nothing goes out for it.
        w.onAbort = () => {
          const i = l.queue.indexOf(w);
          if (i >= 0) l.queue.splice(i, 1);
          reject(abortReason(signal));
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      l.queue.push(w);
      this.schedule(l);
    });
  }

  private schedule(lane: Lane<I, O>): void {
    if (lane.scheduled || lane.inFlight >= this.limits.maxInFlight) return;
    lane.scheduled = true;
    setImmediate(() => {
      lane.scheduled = false;
      this.pump(lane);
    });
  }

  private pump(lane: Lane<I, O>): void {
    while (lane.inFlight < this.limits.maxInFlight && lane.queue.length > 0) {
      const batch = this.take(lane);
      if (batch.length === 0) continue;
      lane.inFlight++;
      // The request is allowed the longest allowance left among its items (0 = none, when an item has no deadline);
      // an item due earlier fails at its own deadline, so a claim's short allowance does not cut an entry's short.
      const last = Math.max(...batch.map((w) => w.deadline));
      const timeoutMs = last === Infinity ? 0 : Math.max(1, last - Date.now());
      const expiry = expireEarly(batch, last);
      this.onBatch(batch.length);
      let sending: Promise<Outcome<O>[]>;
      try {
        sending = this.send(lane.peer, batch.map((w) => w.item), timeoutMs);
      } catch (err) {
        sending = Promise.reject(err);
      }
      sending
        .then(
          (outcomes) => {
            for (const [i, w] of batch.entries()) {
              const o = outcomes[i];
              if (!o) settle(w, { ok: false, error: new Error('the batch answer lacks this item') });
              else settle(w, o);
            }
          },
          (err: unknown) => {
            const error = err instanceof Error ? err : new Error(String(err));
            for (const w of batch) settle(w, { ok: false, error });
          },
        )
        .finally(() => {
          if (expiry) clearTimeout(expiry.timer);
          lane.inFlight--;
          if (lane.queue.length > 0) this.pump(lane);
          else if (lane.inFlight === 0 && !lane.scheduled) this.lanes.delete(lane.peer.id);
        });
    }
  }

  /** The next batch off the queue, within the caps (always at least one item); items past their deadline fail here. */
  private take(lane: Lane<I, O>): Waiting<I, O>[] {
    const now = Date.now();
    const batch: Waiting<I, O>[] = [];
    let bytes = 0;
    while (lane.queue.length > 0 && batch.length < this.limits.maxItems) {
      const w = lane.queue[0];
      if (w.deadline <= now) {
        lane.queue.shift();
        settle(w, { ok: false, error: timedOut('timed out waiting for a batch to the peer') });
        continue;
      }
      if (batch.length > 0 && bytes + w.bytes > this.limits.maxBytes) break;
      lane.queue.shift();
      if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
      // Aborted once sent: the caller stops waiting (the peer may still apply it, as with a cut request).
      if (w.signal) w.signal.addEventListener('abort', () => settle(w, { ok: false, error: abortReason(w.signal!) }), { once: true });
      batch.push(w);
      bytes += w.bytes;
    }
    return batch;
  }
}

/**
 * Fails, each at its own deadline, the items of a sent batch that are due before `last` (the request's own limit);
 * the batch's answer, if it comes later, changes nothing for them. Undefined when no item is due early.
 */
function expireEarly<I, O>(batch: Waiting<I, O>[], last: number): { timer: NodeJS.Timeout } | undefined {
  const early = batch.filter((w) => w.deadline < last).sort((a, b) => a.deadline - b.deadline);
  if (early.length === 0) return undefined;
  let next = 0;
  const expiry = { timer: undefined as unknown as NodeJS.Timeout };
  const tick = () => {
    const now = Date.now();
    while (next < early.length && early[next].deadline <= now) settle(early[next++], { ok: false, error: timedOut('the peer did not answer the batch in time') });
    if (next < early.length) expiry.timer = setTimeout(tick, early[next].deadline - now);
  };
  expiry.timer = setTimeout(tick, Math.max(0, early[0].deadline - Date.now()));
  return expiry;
}

function timedOut(message: string): Error {
  return Object.assign(new Error(message), { code: 'ETIMEDOUT' });
}

function settle<I, O>(w: Waiting<I, O>, o: Outcome<O>): void {
  if (o.ok) w.resolve(o.value);
  else w.reject(o.error);
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted');
}
