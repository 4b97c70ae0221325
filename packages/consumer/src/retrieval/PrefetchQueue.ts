import type { FetchedBatch } from './ShardRecordSource.js';

/** Records and bytes one merged batch may hold: what one GetRecords call returns at most. */
const MAX_MERGED_RECORDS = 10_000;
const MAX_MERGED_BYTES = 10 * 1024 * 1024;

/**
 * The read-ahead queue between a record source's reader (GetRecords or SubscribeToShard, in the background) and
 * the shard consumer. Bounded by batches and bytes: while it is full the reader waits in {@link waitForRoom},
 * so it stops calling Kinesis (polling) or reading the event stream (fan-out, where HTTP/2 flow control then
 * stops the sender). Memory stays bounded by `maxBatches` and `maxBytes` plus one batch. Once stopped,
 * buffered batches are dropped and every wait ends.
 */
export class PrefetchQueue {
  readonly #batches: FetchedBatch[] = [];
  readonly #maxBatches: number;
  readonly #maxBytes: number;
  readonly #signal: AbortSignal;
  #bytes = 0;
  #finished = false;
  #wakeConsumer: (() => void) | undefined;
  #wakeReader: (() => void) | undefined;

  /** @param signal aborting it stops the queue: `take()` resolves `undefined`, `waitForRoom()` false. */
  constructor(limits: { maxBatches: number; maxBytes: number }, signal: AbortSignal) {
    this.#maxBatches = limits.maxBatches;
    this.#maxBytes = limits.maxBytes;
    this.#signal = signal;
    signal.addEventListener('abort', () => this.#wakeAll(), { once: true });
  }

  /** Hands a batch on. */
  push(batch: FetchedBatch): void {
    this.#batches.push(batch);
    this.#bytes += batch.bytes;
    this.#wakeConsumer?.();
  }

  /**
   * Appends a batch to the last one still queued when both fit in one GetRecords-sized batch and neither ends
   * the shard; otherwise queues it on its own. Fan-out uses it: while the processor is busy (a checkpoint
   * per batch can take longer than the ~50 ms between events) the events that arrive merge, so the shard does
   * not fall behind one event at a time.
   */
  pushMerging(batch: FetchedBatch): void {
    const tail = this.#batches.at(-1);
    if (
      tail === undefined ||
      batch.shardEnded ||
      tail.shardEnded ||
      tail.records.length + batch.records.length > MAX_MERGED_RECORDS ||
      tail.bytes + batch.bytes > MAX_MERGED_BYTES
    ) {
      this.push(batch);
      return;
    }
    for (const record of batch.records) tail.records.push(record);
    tail.bytes += batch.bytes;
    tail.millisBehindLatest = batch.millisBehindLatest ?? tail.millisBehindLatest;
    this.#bytes += batch.bytes;
    this.#wakeConsumer?.();
  }

  /** The reader is done (shard read to its end, or gave up): `take()` resolves `undefined` once drained. */
  finish(): void {
    this.#finished = true;
    this.#wakeConsumer?.();
  }

  /** The next batch; `undefined` once stopped, or finished and drained. */
  async take(): Promise<FetchedBatch | undefined> {
    for (;;) {
      if (this.#signal.aborted) return undefined; // stopped: buffered batches are dropped
      const batch = this.#batches.shift();
      if (batch) {
        this.#bytes -= batch.bytes;
        this.#wakeReader?.();
        return batch;
      }
      if (this.#finished) return undefined;
      await new Promise<void>((resolve) => {
        this.#wakeConsumer = resolve;
      });
      this.#wakeConsumer = undefined;
    }
  }

  /** Waits while the queue is full; `false` once stopped. */
  async waitForRoom(): Promise<boolean> {
    while (this.#batches.length >= this.#maxBatches || this.#bytes >= this.#maxBytes) {
      if (this.#signal.aborted) return false;
      await new Promise<void>((resolve) => {
        this.#wakeReader = resolve;
      });
      this.#wakeReader = undefined;
    }
    return !this.#signal.aborted;
  }

  #wakeAll(): void {
    this.#wakeReader?.();
    this.#wakeConsumer?.();
  }
}
