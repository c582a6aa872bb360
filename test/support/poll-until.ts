/** Options for {@link pollUntil}. */
export interface PollOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Pause between attempts (default 100 ms). */
  intervalMs?: number;
  /** Prefix of the error thrown on timeout; a function is called then, so it can describe the final state. */
  message?: string | (() => string);
}

/**
 * Retries `fn` until it neither throws nor returns `false`, and returns its result. For what only becomes true after
 * a while in a cluster (heartbeats, replication, sync). On timeout it throws `message` followed by the last failure,
 * so a failing `expect` inside `fn` still explains itself.
 */
export async function pollUntil<T>(fn: () => T | Promise<T>, options: PollOptions = {}): Promise<Exclude<T, false>> {
  const { timeoutMs = 10_000, intervalMs = 100, message = 'condition not met' } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let failure: unknown;
    try {
      const result = await fn();
      if (result !== false) return result as Exclude<T, false>;
      failure = new Error('the predicate returned false');
    } catch (err) {
      failure = err;
    }
    if (Date.now() >= deadline) {
      const prefix = typeof message === 'function' ? message() : message;
      const detail = failure instanceof Error ? failure.message : String(failure);
      throw new Error(`${prefix} (gave up after ${timeoutMs} ms)\n${detail}`, { cause: failure });
    }
    await sleep(intervalMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
