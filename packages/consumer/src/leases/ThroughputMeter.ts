/** Options for {@link ThroughputMeter}. */
export interface ThroughputMeterOptions {
  /**
   * Bytes of record data processed on a shard by this worker so far (any counter that only grows while one
   * consumer runs the shard; a smaller value means a new consumer started from 0). `undefined`: no consumer.
   */
  bytesOf: (leaseKey: string) => number | undefined;
  now: () => number;
}

/** Weight of the newest sample, as the KCL 3.x `LeaseStatsRecorder` (alpha 0.5). */
const ALPHA = 0.5;
const BYTES_PER_KB = 1024;

interface Meter {
  bytes: number | undefined;
  at: number;
  kbps: number | undefined;
}

/**
 * Each held lease's throughput as the KCL 3.x measures it: an exponential moving average (alpha 0.5) of the
 * KiB per second processed between two samples, one sample per renewal round. A lease taken over starts from
 * the value its previous owner wrote, so a hot shard does not look idle to the others right after a move.
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
    this.#meters.set(leaseKey, {
      bytes: this.#options.bytesOf(leaseKey),
      at: this.#options.now(),
      kbps: previousKBps,
    });
  }

  /** Folds one sample per held lease (called once per renewal round). */
  sample(leaseKeys: readonly string[]): void {
    const now = this.#options.now();
    for (const leaseKey of leaseKeys) {
      const meter = this.#meters.get(leaseKey);
      if (!meter) {
        this.start(leaseKey, undefined);
        continue;
      }
      const bytes = this.#options.bytesOf(leaseKey);
      const seconds = (now - meter.at) / 1000;
      if (bytes === undefined || seconds <= 0) continue;
      const delta = meter.bytes === undefined || bytes < meter.bytes ? bytes : bytes - meter.bytes;
      const kbps = delta / BYTES_PER_KB / seconds;
      meter.kbps = meter.kbps === undefined ? kbps : ALPHA * kbps + (1 - ALPHA) * meter.kbps;
      meter.bytes = bytes;
      meter.at = now;
    }
  }

  /** The current average, or `undefined` before the first sample of a lease without a previous value. */
  current(leaseKey: string): number | undefined {
    return this.#meters.get(leaseKey)?.kbps;
  }

  /** The lease is no longer held here. */
  drop(leaseKey: string): void {
    this.#meters.delete(leaseKey);
  }
}
