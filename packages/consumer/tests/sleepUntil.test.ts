import { describe, expect, it } from 'vitest';
import { sleepUntil } from '../src/backoff.js';

describe('sleepUntil', () => {
  it('checks the clock again when a timer fires before the time it was set for', async () => {
    // The clock reads 99.5 after the first timer: as when a timer fires early on performance.now().
    const readings = [0, 99.5, 100];
    let calls = 0;
    const now = (): number => readings[Math.min(calls++, readings.length - 1)] ?? 100;
    expect(await sleepUntil(100, now)).toBe(true);
    expect(calls).toBe(3);
  });

  it('does not wait for a time already past, and returns false once aborted', async () => {
    expect(await sleepUntil(0, () => 5)).toBe(true);
    const abort = new AbortController();
    const pending = sleepUntil(performance.now() + 10_000, () => performance.now(), abort.signal);
    abort.abort();
    expect(await pending).toBe(false);
    expect(await sleepUntil(0, () => 5, abort.signal)).toBe(false);
  });
});
