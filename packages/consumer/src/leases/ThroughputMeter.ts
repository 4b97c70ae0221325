/** Options for {@link ThroughputMeter}. */
export interface ThroughputMeterOptions {
  /**
   * Bytes of record data processed on a shard by this worker so far (any counter that only grows while one
   * consumer runs the shard; a smaller value means a new consumer started from 0). `undefined`: no consumer.
   */
  bytesOf: (leaseKey: string) => number | undefined;
  now: () => number;
  /**
   * The span (ms) a lease's throughput is averaged over; a lease held for less than this reports the value its
   * previous owner wrote (or none).
   */
  windowMs: number;
}

const BYTES_PER_KB = 1024;
/** Samples kept per lease: one every `windowMs / SLOTS` at most, so memory does not grow with the window. */
const SLOTS = 16;

interface Point {
  at: number;
  /** Bytes processed on the lease since it was taken here, across consumer restarts. */
  total: number;
}

interface Meter {
  startedAt: number;
  /** The raw counter at the last sample (`undefined`: no consumer then). */
  raw: number | undefined;
  latest: Point;
  /** Spaced samples, oldest first; the first one is at least `windowMs` old once the meter is full. */
  history: Point[];
  /** The value the item carried when taken, reported until this worker has measured a whole window. */
  carried: number | undefined;
}

/**
 * Each held lease's throughput: the KiB/s of record data processed over the last `windowMs`, sampled once per
 * renewal round. A plain average over a long window rather than the KCL 3.x per-round EMA: bytes arrive in
 * batches, so one renewal interval sees one batch or two or none, and an EMA of such samples swings by half
 * its value, enough to move leases on noise. Until a lease has been held for a whole window the meter reports
 * the value its previous owner wrote, so a hot shard does not look idle right after a move; a lease nobody
 * measured before is reported as unmeasured (`undefined`) for at most one window, which balancing waits out.
 * Knows bytes only as a number read through `bytesOf`: nothing of records.
 */
export class ThroughputMeter {
  readonly #options: ThroughputMeterOptions;
  readonly #meters = new Map<string, Meter>();

  constructor(options: ThroughputMeterOptions) {
    this.#options = options;
  }

  /** A lease was acquired; `previousKBps` is the `throughputKBps` its item carried. */
  start(leaseKey: string, previousKBps: number | undefined): void {
    const at = this.#options.now();
    const point = { at, total: 0 };
    this.#meters.set(leaseKey, {
      startedAt: at,
      raw: this.#options.bytesOf(leaseKey),
      latest: point,
      history: [point],
      carried: previousKBps,
    });
  }

  /** Takes one sample per held lease (called once per renewal round). */
  sample(leaseKeys: readonly string[]): void {
    const now = this.#options.now();
    const { windowMs } = this.#options;
    for (const leaseKey of leaseKeys) {
      const meter = this.#meters.get(leaseKey);
      if (!meter) {
        this.start(leaseKey, undefined);
        continue;
      }
      const raw = this.#options.bytesOf(leaseKey);
      let added = 0;
      // No consumer yet (or any more) adds nothing; a smaller value is a new consumer that counts from 0.
      if (raw !== undefined) added = meter.raw === undefined || raw < meter.raw ? raw : raw - meter.raw;
      meter.raw = raw;
      meter.latest = { at: now, total: meter.latest.total + added };
      const last = meter.history[meter.history.length - 1];
      if (last === undefined || now - last.at >= windowMs / SLOTS) meter.history.push(meter.latest);
      // Keep exactly one point at or before the window's start: the base of the average.
      while ((meter.history[1]?.at ?? Number.POSITIVE_INFINITY) <= now - windowMs) meter.history.shift();
    }
  }

  /**
   * The average over the last window once the lease has been held that long; before, the carried value
   * (`undefined` if there was none).
   */
  current(leaseKey: string): number | undefined {
    const meter = this.#meters.get(leaseKey);
    if (!meter) return undefined;
    const { latest } = meter;
    const base = meter.history[0] ?? latest;
    if (latest.at - meter.startedAt < this.#options.windowMs || latest.at <= base.at) return meter.carried;
    return (latest.total - base.total) / BYTES_PER_KB / ((latest.at - base.at) / 1000);
  }

  /** The lease is no longer held here. */
  drop(leaseKey: string): void {
    this.#meters.delete(leaseKey);
  }
}
