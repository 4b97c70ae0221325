/** Exponential backoff with full jitter: a random delay in [0, min(maxMs, baseMs * 2^attempt)]. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(Math.random() * ceiling);
}

/**
 * Resolves after `ms`, or early (without throwing) when `signal` aborts, so shutdown never waits out a
 * backoff. Returns whether the full delay elapsed.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
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

/**
 * Resolves once `now()` has reached `at`, or early (returning `false`) when `signal` aborts. Timers can fire
 * up to a millisecond before their delay has passed on `performance.now()`, so a pacing rule ("at most one
 * call per interval") checks the clock again rather than trusting one timer.
 */
export async function sleepUntil(at: number, now: () => number, signal?: AbortSignal): Promise<boolean> {
  for (let wait = at - now(); wait > 0; wait = at - now()) {
    if (!(await sleep(Math.ceil(wait), signal))) return false;
  }
  return !signal?.aborted;
}

/** Runs `fn` with at most `limit` calls in flight; resolves when every item is done. Never rejects. */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item).catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Options of {@link retry}. */
export interface RetryOptions {
  /** Attempts, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Aborting stops the retries: the last error is thrown without waiting out the backoff. */
  signal?: AbortSignal | undefined;
  /** Whether an error is worth another attempt. @defaultValue every error is */
  isRetriable?: (error: unknown) => boolean;
  /** Called after each failed attempt (also the last), before the backoff. */
  onError?: (error: unknown, attempt: number, willRetry: boolean) => void;
}

/**
 * The package's one retry loop: calls `fn` up to `attempts` times with {@link backoffDelay} between attempts,
 * stopping at once on an error `isRetriable` rejects or when `signal` aborts. Throws the last error.
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      const willRetry =
        attempt < options.attempts &&
        !options.signal?.aborted &&
        (options.isRetriable === undefined || options.isRetriable(error));
      options.onError?.(error, attempt, willRetry);
      if (!willRetry) throw error;
      await sleep(backoffDelay(attempt, options.baseDelayMs, options.maxDelayMs), options.signal);
    }
  }
}
