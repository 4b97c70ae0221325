/**
 * The package's one backoff and its retry helpers. Request retries (sending/Sender.ts), record retries
 * (settlement/Results.ts) and shard map listings (routing/ShardMap.ts) all ask here how long to wait and
 * whether that wait still ends before their deadline.
 */

/** Exponential backoff parameters. */
export interface BackoffPolicy {
  /** Delay scale of the first retry, in ms. */
  baseDelayMs: number;
  /** Largest delay, in ms. */
  maxDelayMs: number;
}

/**
 * "Full jitter" backoff (AWS Architecture Blog): a uniformly random delay in `[0, min(cap, base * 2^n))`
 * for the n-th retry (n from 0). Spreads retries of many records so a throttled shard is not hit in waves.
 */
export function fullJitterDelay(
  retry: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  // 2^30 already exceeds any cap; clamping the exponent keeps the arithmetic finite.
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(Math.max(0, retry), 30));
  return Math.floor(random() * ceiling);
}

/**
 * A delay that never carries an attempt past a deadline: `undefined` when waiting `delayMs` from `now`
 * would already be at or beyond `deadline` (so the caller gives up instead of sleeping in vain).
 */
export function delayBeforeDeadline(delayMs: number, now: number, deadline: number): number | undefined {
  return now + delayMs >= deadline ? undefined : delayMs;
}

/** Full-jitter settings as the options name them. */
export interface RetryDelayOptions {
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
}

/**
 * When the `retry`-th retry (from 0) of something due by `deadline` may start: `now` plus a full-jitter delay,
 * or `undefined` when that is already at or past the deadline (give up instead of waiting in vain).
 */
export function retryAt(
  retry: number,
  options: RetryDelayOptions,
  now: number,
  deadline: number,
): number | undefined {
  const delay = fullJitterDelay(retry, {
    baseDelayMs: options.retryBaseDelayMs,
    maxDelayMs: options.retryMaxDelayMs,
  });
  const allowed = delayBeforeDeadline(delay, now, deadline);
  return allowed === undefined ? undefined : now + allowed;
}

/** Waits `ms`; resolves early (never rejects) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Multiplicative backoff without reset races, as the KPL uses for shard map refreshes: each failure grows
 * the next delay by `factor` up to `maxDelayMs`; a success resets it.
 */
export class GrowingBackoff {
  private nextMs: number;

  constructor(
    private readonly minDelayMs: number,
    private readonly maxDelayMs: number,
    private readonly factor = 1.5,
  ) {
    this.nextMs = minDelayMs;
  }

  /** The delay to wait after a failure; grows the following one. */
  fail(): number {
    const delay = this.nextMs;
    this.nextMs = Math.min(this.maxDelayMs, Math.ceil(this.nextMs * this.factor));
    return delay;
  }

  /** Resets after a success. */
  succeed(): void {
    this.nextMs = this.minDelayMs;
  }
}
