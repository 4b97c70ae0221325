import { PrefetchQueue } from './PrefetchQueue.js';
import type { FetchedBatch, ShardRecordSource } from './ShardRecordSource.js';

/**
 * The life cycle both record sources share: one background reader (`read`) fills a bounded
 * {@link PrefetchQueue}; `start` runs it once, `stop` aborts it (and any call in flight) and waits for it,
 * `next` takes from the queue. Subclasses only say how they read.
 */
export abstract class BackgroundRecordSource implements ShardRecordSource {
  readonly #abort = new AbortController();
  #running: Promise<void> | undefined;
  /** Aborted by `stop()`: every call and wait of the reader takes it. */
  protected readonly signal: AbortSignal = this.#abort.signal;
  protected readonly queue: PrefetchQueue;
  /** The latest `MillisBehindLatest` Kinesis reported, also for responses or events without records. */
  millisBehindLatest: number | undefined;

  constructor(limits: { maxPrefetchBatches: number; maxPrefetchBytes: number }) {
    this.queue = new PrefetchQueue(
      { maxBatches: limits.maxPrefetchBatches, maxBytes: limits.maxPrefetchBytes },
      this.signal,
    );
  }

  /** Reads until the shard ends, the reader gives up, or `signal` is aborted; reports failures, never throws. */
  protected abstract read(): Promise<void>;

  start(): void {
    this.#running ??= this.read().finally(() => this.queue.finish());
  }

  /** Stops reading and aborts any call in flight; `next()` then resolves `undefined`. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#running;
  }

  /** The next batch with records (or the shard-end batch); `undefined` once stopped or fully read. */
  next(): Promise<FetchedBatch | undefined> {
    return this.queue.take();
  }
}
