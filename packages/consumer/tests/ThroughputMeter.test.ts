import { describe, expect, it } from 'vitest';
import { ThroughputMeter } from '../src/leases/ThroughputMeter.js';

const WINDOW = 10_000;

/** A meter on a fake clock; `bytes` is what each shard's consumer has processed so far. */
function setup() {
  const clock = { now: 0 };
  const bytes = new Map<string, number | undefined>();
  const meter = new ThroughputMeter({
    bytesOf: (key) => bytes.get(key),
    now: () => clock.now,
    windowMs: WINDOW,
  });
  return { clock, bytes, meter };
}

describe('ThroughputMeter', () => {
  it('averages bursty batches over the window: steady where one sample per renewal swings by half', () => {
    const { clock, bytes, meter } = setup();
    bytes.set('s', 0);
    meter.start('s', undefined);
    // 1 KiB/s on average, delivered as a 2 KiB batch every other second; a sample each second.
    const seen: number[] = [];
    for (let second = 1; second <= 60; second++) {
      clock.now = second * 1_000;
      if (second % 2 === 0) bytes.set('s', (bytes.get('s') ?? 0) + 2_048);
      meter.sample(['s']);
      const value = meter.current('s');
      if (second > WINDOW / 1_000) seen.push(value ?? Number.NaN);
    }
    for (const value of seen) expect(Math.abs(value - 1)).toBeLessThanOrEqual(0.1);
  });

  it('reports the carried value until it has measured a whole window, then its own', () => {
    const { clock, bytes, meter } = setup();
    bytes.set('s', undefined); // the consumer has not started yet
    meter.start('s', 8);
    for (let second = 1; second <= 9; second++) {
      clock.now = second * 1_000;
      bytes.set('s', second * 3 * 1_024);
      meter.sample(['s']);
      expect(meter.current('s')).toBe(8);
    }
    for (let second = 10; second <= 25; second++) {
      clock.now = second * 1_000;
      bytes.set('s', second * 3 * 1_024);
      meter.sample(['s']);
    }
    expect(meter.current('s')).toBeCloseTo(3, 5);
  });

  it('a lease nobody measured is unmeasured for at most one window, even without a consumer (no deadlock)', () => {
    const { clock, meter } = setup();
    meter.start('idle', undefined);
    for (let second = 1; second <= 9; second++) {
      clock.now = second * 1_000;
      meter.sample(['idle']);
      expect(meter.current('idle')).toBeUndefined();
    }
    clock.now = 10_000;
    meter.sample(['idle']);
    expect(meter.current('idle')).toBe(0);
  });

  it('a consumer restarted on the shard (counter back to 0) keeps counting; a dropped lease reports nothing', () => {
    const { clock, bytes, meter } = setup();
    bytes.set('s', 0);
    meter.start('s', undefined);
    for (let second = 1; second <= 20; second++) {
      clock.now = second * 1_000;
      // 2 KiB/s; a new consumer at second 11 counts from 0 again
      bytes.set('s', (second > 10 ? second - 10 : second) * 2 * 1_024);
      meter.sample(['s']);
    }
    expect(meter.current('s')).toBeCloseTo(2, 5);
    meter.drop('s');
    expect(meter.current('s')).toBeUndefined();
  });

  it('keeps a bounded number of samples however long the window', () => {
    const clock = { now: 0 };
    const meter = new ThroughputMeter({
      bytesOf: () => clock.now,
      now: () => clock.now,
      windowMs: 3_600_000,
    });
    meter.start('s', undefined);
    for (let i = 1; i <= 20_000; i++) {
      clock.now = i * 1_000;
      meter.sample(['s']);
    }
    // 1000 bytes per second of clock: about 0.98 KiB/s
    expect(meter.current('s')).toBeCloseTo(1_000 / 1_024, 3);
  });
});
