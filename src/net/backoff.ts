// How long to wait before another try: doubling from a base up to a cap, with jitter so that many
// clients cut off at once (a server restart) do not come back at the same instant.

export interface RetryPolicy {
  /** Tries after the first. */
  retries: number;
  /** The wait before the first retry, before jitter. */
  baseMs: number;
  /** No wait is longer than this. */
  maxMs: number;
  /** A number in [0, 1): Math.random unless a caller needs the waits to be predictable. */
  random?: () => number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 4, baseMs: 400, maxMs: 4000 };

/** The wait before retry `attempt` (1 for the first): half of it fixed, half random, never over maxMs. */
export function backoffMs(attempt: number, policy: RetryPolicy): number {
  const full = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
  const random = policy.random ?? Math.random;
  return full / 2 + (full / 2) * random();
}

/** Waits `ms`, or less if the signal aborts; true if it waited the whole time. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve(false);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
