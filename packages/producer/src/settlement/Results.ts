import type { PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import type { KeyGate } from '../collection/KeyGate.js';
import type { RateLimiter } from '../collection/RateLimiter.js';
import type { Entry } from '../collection/RequestBuilder.js';
import { type ClassifiedError, isRetriableEntryCode } from '../errors.js';
import type { Pipeline } from '../pipeline.js';
import { retryAt } from '../retry.js';
import type { ShardRouter } from '../routing/ShardRouter.js';
import type { Attempt } from '../types.js';
import { NO_ATTEMPTS, type PendingRecord } from './PendingRecord.js';
import { addAttempt, holdUntil, markRetrying, setFirstAttempts } from './RecordLifecycle.js';
import type { Settlement } from './Settlement.js';

const THROTTLED = 'ProvisionedThroughputExceededException';

/** What handling a request's outcome touches besides the records. */
export interface ResultsDeps {
  settlement: Settlement;
  router: ShardRouter;
  limiter: RateLimiter;
  gate: KeyGate;
}

/**
 * Turns a PutRecords outcome into each record's next state: settled (stored, or failed for good), back to its
 * shard's buffer after a backoff (retriable), or parked (stored inside an aggregate Kinesis put on an
 * unpredicted shard). Also feeds what the answer says back to the rate limiter and the shard map.
 */
export class Results {
  constructor(
    private readonly pipeline: Pipeline,
    private readonly deps: ResultsDeps,
  ) {}

  /** A whole-request try failed (the request itself may still be retried by the sender). */
  failedTry(
    entries: readonly Entry[],
    error: ClassifiedError,
    startedAt: number,
    durationMs: number,
    sdkAttempts: number | undefined,
  ): void {
    const recorder = this.pipeline.recorder;
    recorder.error(error.code);
    recorder.requestTime.add(durationMs);
    for (const entry of entries) {
      for (const record of entry.records) {
        addAttempt(record, startedAt, durationMs, false, error, sdkAttempts);
      }
    }
  }

  /** A 200 answer: one result per entry, in request order. */
  answered(
    entries: readonly Entry[],
    results: readonly PutRecordsResultEntry[],
    startedAt: number,
    durationMs: number,
    sdkAttempts: number | undefined,
    mapVersion: number,
  ): void {
    const { recorder, options } = this.pipeline;
    const { limiter, router, settlement } = this.deps;
    const now = Date.now();
    let failedEntries = 0;
    let userRecords = 0;
    let wrongShard = false;
    const throttledShards = new Set<string>();
    let firstAttemptAt = -1;
    let firstAttempts = NO_ATTEMPTS;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i] as Entry;
      const result = results[i] as PutRecordsResultEntry;
      userRecords += entry.records.length;
      const { SequenceNumber, ShardId } = result;
      if (SequenceNumber !== undefined && ShardId !== undefined && result.ErrorCode === undefined) {
        limiter.get(entry.shardId, now).onSuccess(now);
        recorder.kinesisRecordsPut += 1;
        recorder.kinesisRecordsDataPut += entry.bytes;
        recorder.userRecordsPerKinesisRecord.add(entry.records.length);
        const misrouted = ShardId !== entry.shardId;
        if (misrouted) wrongShard = true;
        const records = entry.records;
        // Kinesis routed the aggregate by its first record's hash key; the others may belong elsewhere.
        const park = misrouted && records.length > 1;
        for (let index = 0; index < records.length; index++) {
          const record = records[index] as PendingRecord;
          if (!park && record.attempts === NO_ATTEMPTS) {
            // Settled by its first attempt: records put in the same millisecond (a batch shares one) share one
            // frozen attempts array instead of an array and an attempt each.
            if (record.receivedAt !== firstAttemptAt) {
              firstAttemptAt = record.receivedAt;
              firstAttempts = Object.freeze([
                {
                  delayMs: Math.max(0, startedAt - firstAttemptAt),
                  durationMs,
                  success: true,
                  errorCode: undefined,
                  errorMessage: undefined,
                  sdkAttempts,
                },
              ]) as Attempt[];
            }
            setFirstAttempts(record, firstAttempts);
          } else {
            addAttempt(record, startedAt, durationMs, true, undefined, sdkAttempts, !park);
          }
          if (park) router.park(record, entry, ShardId, SequenceNumber, index);
          else settlement.succeed(record, ShardId, SequenceNumber, entry.aggregated ? index : undefined);
        }
      } else {
        failedEntries += 1;
        const error: ClassifiedError = {
          code: result.ErrorCode ?? 'UnknownError',
          message: result.ErrorMessage ?? 'no error message',
          retriable: isRetriableEntryCode(result.ErrorCode ?? ''),
        };
        recorder.error(error.code);
        if (error.code === THROTTLED) {
          limiter.get(entry.shardId, now).onThrottle(now);
          recorder.throttle(entry.shardId);
          throttledShards.add(entry.shardId);
        }
        for (const record of entry.records)
          addAttempt(record, startedAt, durationMs, false, error, sdkAttempts);
        if (!error.retriable || (error.code === THROTTLED && options.failIfThrottled)) {
          settlement.failAll(entry.records, error, undefined);
        } else {
          this.retryEntry(entry, error, now);
        }
      }
      this.deps.gate.leaveAnswered(entry.records);
    }
    for (const shardId of throttledShards) {
      this.pipeline.notify('throttled', { shardId, rateLimit: limiter.get(shardId, now).ratio });
    }
    this.pipeline.notify('request', { entries: entries.length, userRecords, failedEntries, durationMs });
    router.onAnswered(mapVersion, wrongShard);
  }

  /** The request failed as a whole, after the sender's own retries. */
  requestFailed(
    entries: readonly Entry[],
    userRecords: number,
    error: ClassifiedError,
    cause: unknown,
  ): void {
    const now = Date.now();
    const { notify, options } = this.pipeline;
    notify('requestFailed', {
      errorCode: error.code,
      retriable: error.retriable,
      entries: entries.length,
      userRecords,
    });
    options.logger?.warn('PutRecords failed', {
      errorCode: error.code,
      retriable: error.retriable,
      entries: entries.length,
    });
    for (const entry of entries) {
      if (error.retriable) this.retryEntry(entry, error, now);
      else this.deps.settlement.failAll(entry.records, error, cause);
      this.deps.gate.leaveAnswered(entry.records);
    }
  }

  /** A bug while handling an answer: whatever the request still holds fails, retriable. */
  internalError(entries: readonly Entry[], error: unknown): void {
    const message = this.pipeline.reportInternalError('while handling a PutRecords answer', error);
    const unsettled = entries.flatMap((entry) => entry.records.filter((r) => !r.settled && !r.parked));
    this.deps.settlement.failAll(
      unsettled,
      { code: 'InternalProducerError', message, retriable: true },
      error,
    );
  }

  private retryEntry(entry: Entry, error: ClassifiedError, now: number): void {
    for (const record of entry.records) this.retry(record, error, now);
    this.pipeline.notify('retry', {
      shardId: entry.shardId,
      errorCode: error.code,
      userRecords: entry.records.length,
    });
  }

  /** Puts a record back in its shard's buffer after a full-jitter backoff, or expires it if no time is left. */
  private retry(record: PendingRecord, error: ClassifiedError, now: number): void {
    const retries = markRetrying(record, error);
    const notBefore = retryAt(retries, this.pipeline.options, now, record.deadline);
    if (notBefore === undefined) {
      this.deps.settlement.expire(record);
      return;
    }
    holdUntil(record, notBefore);
    this.deps.router.route(record).insert(record);
    this.pipeline.wakeup.at(notBefore);
  }
}
