import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type GetShardIteratorCommandInput,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { backoffDelay, sleep, sleepUntil } from '../backoff.js';
import { errorName, FetchError } from '../errors.js';
import type { StreamRef } from '../types.js';
import { BackgroundRecordSource } from './BackgroundRecordSource.js';
import { bytesOf, type StartingPosition } from './ShardRecordSource.js';

export type { FetchedBatch, StartingPosition } from './ShardRecordSource.js';

/** Options for {@link PollingFetcher}. */
export interface PollingFetcherOptions {
  kinesis: KinesisClient;
  stream: StreamRef;
  shardId: string;
  start: StartingPosition;
  maxRecords: number;
  idleTimeBetweenReadsMs: number;
  /** Floor between two GetRecords calls on this shard (Kinesis allows 5 calls/s per shard). */
  minCallIntervalMs: number;
  maxPrefetchBatches: number;
  maxPrefetchBytes: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  now: () => number;
  onError?: (error: FetchError) => void;
  onThrottled?: () => void;
  /**
   * End once a response says the shard is caught up (`MillisBehindLatest` 0), after queueing its records, as
   * if the shard had ended there (the last batch then has `shardEnded: false`). For one-shot readers such as
   * `shardline tail` without `--follow`. @defaultValue `false`
   */
  stopWhenCaughtUp?: boolean | undefined;
}

/** Consecutive failures after which the iterator is thrown away and re-acquired. */
const RESET_ITERATOR_AFTER_FAILURES = 3;

/**
 * Reads one shard with GetRecords in the background into a bounded queue. When the queue is full (the
 * processor is slow) it stops calling Kinesis, so memory stays bounded by `maxPrefetchBatches` and
 * `maxPrefetchBytes` (plus one batch). Every failure is retried with backoff; an expired iterator is replaced
 * by one positioned after the last record fetched.
 */
export class PollingFetcher extends BackgroundRecordSource {
  readonly #options: PollingFetcherOptions;
  #lastSequenceNumber: string | undefined;

  constructor(options: PollingFetcherOptions) {
    super(options);
    this.#options = options;
  }

  protected async read(): Promise<void> {
    const { kinesis, now } = this.#options;
    const signal = this.signal;
    let iterator: string | undefined;
    let failures = 0;
    let expiredInARow = 0;
    let lastCallAt = Number.NEGATIVE_INFINITY;
    let caughtUp = false;
    while (!signal.aborted) {
      if (!(await this.queue.waitForRoom())) break;
      try {
        iterator ??= await this.#getIterator();
        // Pacing: never more than 5 calls/s per shard; idle a while once caught up with the tip.
        const gap = caughtUp ? this.#options.idleTimeBetweenReadsMs : this.#options.minCallIntervalMs;
        if (!(await sleepUntil(lastCallAt + gap, now, signal))) break;
        lastCallAt = now();
        const response = await kinesis.send(
          new GetRecordsCommand({ ShardIterator: iterator, Limit: this.#options.maxRecords, ...this.#arn() }),
          { abortSignal: signal },
        );
        failures = 0;
        expiredInARow = 0;
        const records = response.Records ?? [];
        iterator = response.NextShardIterator ?? undefined;
        this.millisBehindLatest = response.MillisBehindLatest;
        caughtUp = records.length === 0 || response.MillisBehindLatest === 0;
        const last = records[records.length - 1];
        if (last?.SequenceNumber) this.#lastSequenceNumber = last.SequenceNumber;
        const shardEnded = iterator === undefined;
        if (records.length > 0 || shardEnded) {
          this.queue.push({
            records,
            millisBehindLatest: response.MillisBehindLatest,
            shardEnded,
            childShards: response.ChildShards ?? [],
            bytes: bytesOf(records),
          });
        }
        if (shardEnded) return;
        if (this.#options.stopWhenCaughtUp && response.MillisBehindLatest === 0) return;
      } catch (error) {
        if (signal.aborted) break;
        if (errorName(error) === 'ExpiredIteratorException') {
          iterator = undefined; // re-acquired after the last record fetched: at once the first time,
          expiredInARow++; // then with backoff, so a stream of them cannot spin on GetShardIterator
          if (expiredInARow > 1) {
            const delay = backoffDelay(
              expiredInARow - 1,
              this.#options.backoffBaseMs,
              this.#options.backoffMaxMs,
            );
            await sleep(delay, signal);
          }
          continue;
        }
        failures++;
        if (errorName(error) === 'ProvisionedThroughputExceededException') this.#options.onThrottled?.();
        const fetchError = new FetchError(this.#options.shardId, error);
        this.#options.onError?.(fetchError);
        // Re-acquiring from LATEST before any record was fetched would skip what was written meanwhile, so
        // then the iterator is kept (it stays valid for 5 minutes) and only the backoff applies.
        if (failures >= RESET_ITERATOR_AFTER_FAILURES && this.#canReacquireWithoutSkipping()) {
          iterator = undefined;
        }
        // A permanent error (permissions, KMS key, stream gone) is not hammered: the longest wait at once.
        const { backoffBaseMs, backoffMaxMs } = this.#options;
        await sleep(
          fetchError.retriable ? backoffDelay(failures, backoffBaseMs, backoffMaxMs) : backoffMaxMs,
          signal,
        );
      }
    }
  }

  /** Whether a new iterator would start where the current one is (anything but LATEST before the first record). */
  #canReacquireWithoutSkipping(): boolean {
    return this.#lastSequenceNumber !== undefined || this.#options.start.type !== 'LATEST';
  }

  #arn(): { StreamARN?: string } {
    return 'StreamARN' in this.#options.stream ? { StreamARN: this.#options.stream.StreamARN } : {};
  }

  async #getIterator(): Promise<string> {
    const start: StartingPosition = this.#lastSequenceNumber
      ? { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: this.#lastSequenceNumber }
      : this.#options.start;
    const input: GetShardIteratorCommandInput = {
      ...this.#options.stream,
      ShardId: this.#options.shardId,
      ShardIteratorType: start.type,
    };
    if (start.type === 'AT_TIMESTAMP') input.Timestamp = start.timestamp;
    if (start.type === 'AT_SEQUENCE_NUMBER' || start.type === 'AFTER_SEQUENCE_NUMBER') {
      input.StartingSequenceNumber = start.sequenceNumber;
    }
    const response = await this.#options.kinesis.send(new GetShardIteratorCommand(input), {
      abortSignal: this.signal,
    });
    if (!response.ShardIterator)
      throw new Error(`GetShardIterator returned no iterator for ${this.#options.shardId}`);
    return response.ShardIterator;
  }
}
