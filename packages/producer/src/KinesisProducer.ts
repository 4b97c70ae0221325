import type { Writable } from 'node:stream';
import { setImmediate as yieldToIo } from 'node:timers/promises';
import type { PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import { fullJitterDelay } from './backoff.js';
import { RateLimiter } from './collection/RateLimiter.js';
import { type Entry, RequestBuilder } from './collection/RequestBuilder.js';
import {
  BufferFullError,
  type ClassifiedError,
  ConfigurationError,
  isRetriableEntryCode,
  ProducerClosedError,
  ProducerError,
  ServiceError,
  ValidationError,
} from './errors.js';
import { ProducerEventEmitter, type ProducerEvents } from './events.js';
import { MetricsRecorder, type ProducerMetrics } from './metrics.js';
import {
  DEFAULT_MAX_RECORD_BYTES,
  LARGEST_MAX_RECORD_BYTES,
  type ProducerOptions,
  type ResolvedOptions,
  requestLimitFor,
  resolveOptions,
} from './options.js';
import type { ShardBuffer } from './routing/ShardBuffer.js';
import { type RefreshReason, ShardRouter } from './routing/ShardRouter.js';
import { clientMaxAttempts, Sender } from './sending/Sender.js';
import { NO_ATTEMPTS, type PendingRecord, retryStateOf } from './settlement/PendingRecord.js';
import {
  collectOutcomes,
  type PutManyResult,
  type PutOutcomeCallback,
  RecordBatch,
} from './settlement/RecordBatch.js';
import { Settlement } from './settlement/Settlement.js';
import type { Attempt, FlushResult, ProducerRecord, PutResult, ShardRange } from './types.js';
import { guardLogger, reportUserCodeError } from './userCode.js';
import { type ValidRecord, validateRecord } from './validation.js';
import { Wakeup } from './Wakeup.js';
import { createProducerWritable, type ProducerWritableOptions } from './writable.js';

const THROTTLED = 'ProvisionedThroughputExceededException';
// A shard's buffer goes out before its linger time once this much waits (the KPL's 256 KiB trigger).
const READY_BYTES = 256 * 1024;

// Hot path, one per put: `put` validates into this one object instead of allocating a result per record...
const NO_DATA = new Uint8Array(0);
const scratch: ValidRecord = { partitionKey: '', explicitHashKey: undefined, data: NO_DATA, bytes: 0 };
// ...and every put's promise shares one executor, which hands over its functions without a closure per put
// (it runs synchronously inside `new Promise`, so `put` reads them right after).
let capturedResolve: (result: PutResult) => void = () => undefined;
let capturedReject: (error: Error) => void = () => undefined;
const noop = (): void => undefined;
// Records a batch admits before letting I/O run (admission is synchronous within a run).
const ADMIT_RUN = 4_096;

function notAnArray(): ValidationError {
  return new ValidationError(
    'putMany and putEach take an array of records (and putEach an outcome callback)',
  );
}

/** A validation failure as thrown by `validateRecord` (a bug elsewhere would not be a ProducerError). */
function asProducerError(error: unknown): ProducerError {
  if (error instanceof ProducerError) return error;
  return new ValidationError(error instanceof Error ? error.message : String(error), error);
}

/** The request of these entries was answered (or failed): their shards count them from now (see RateLimiter). */
function answered(entries: readonly Entry[], now: number): void {
  for (const entry of entries) entry.take.owner.answered(entry.take, now);
}

function captureSettlers(resolve: (result: PutResult) => void, reject: (error: Error) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/**
 * A KPL-class Kinesis producer: shard-aware aggregation, collection into PutRecords requests, per-shard rate
 * limiting, retries of failed entries with backoff until a TTL, optional per-key ordering, bounded memory
 * and a per-record result. Every `put` settles exactly once.
 */
export class KinesisProducer extends ProducerEventEmitter {
  /** The stream's name (from `streamARN` when that is what was given), as metric exporters report it. */
  readonly streamName: string;
  private readonly options: ResolvedOptions;
  private readonly router: ShardRouter;
  private readonly limiter: RateLimiter;
  private readonly sender: Sender;
  private readonly recorder = new MetricsRecorder();
  private readonly readyBytes: number;
  private readonly readyCount: number;

  // Ordered mode: records per partition key that are in flight or parked.
  private readonly busyKeys = new Map<string, number>();
  private readonly settlement: Settlement;
  private inFlight = 0;
  private flushUpTo = -1;
  private closed = false;
  private closing: Promise<FlushResult> | undefined;
  private readonly wakeup = new Wakeup(() => this.tick());
  private rotation = 0;

  /** @throws ConfigurationError for an invalid option. */
  constructor(options: ProducerOptions) {
    super();
    const resolved = resolveOptions(options);
    this.options = { ...resolved, logger: guardLogger(resolved.logger) };
    const o = this.options;
    this.streamName = o.streamName ?? o.streamARN?.slice(o.streamARN.lastIndexOf('/') + 1) ?? '';
    this.settlement = new Settlement(o, this.recorder, {
      drained: () => this.notify('drain'),
      recordsFailed: (payload) => this.notify('recordsFailed', payload),
      idle: () => this.wakeup.cancel(),
    });
    this.router = new ShardRouter(
      {
        client: o.client,
        streamName: o.streamName,
        streamARN: o.streamARN,
        minDelayMs: o.shardMapRefreshMinDelayMs,
        maxDelayMs: o.shardMapRefreshMaxDelayMs,
        requestTimeoutMs: o.requestTimeoutMs,
        recordTtlMs: o.recordTtlMs,
        refreshIntervalMs: o.shardMapRefreshIntervalMs,
        reshardResend: o.reshardResend,
        describeStream: o.maxRecordBytesFromStream,
        recorder: this.recorder,
      },
      {
        succeed: (record, shardId, sequenceNumber, sub) =>
          this.settlement.succeed(record, shardId, sequenceNumber, sub),
        failAll: (records, error, cause) => this.settlement.failAll(records, error, cause),
        unparked: (record) => {
          if (this.options.ordered) this.unbusy(record.partitionKey);
        },
        mapLoaded: (reason, shards) => this.onMapLoaded(reason, shards),
        mapFailed: (error) => this.onMapFailed(error),
        internalError: (error) => this.reportInternalError('while handling a shard map listing', error),
        wakeSoon: () => this.wakeup.soon(),
        wakeAt: (time) => this.wakeup.at(time),
      },
    );
    this.limiter = new RateLimiter(o.rateLimitPercent);
    this.sender = new Sender({
      client: o.client,
      streamName: o.streamName,
      streamARN: o.streamARN,
      requestTimeoutMs: o.requestTimeoutMs,
      maxRequestRetries: o.maxRequestRetries,
      backoff: { baseDelayMs: o.retryBaseDelayMs, maxDelayMs: o.retryMaxDelayMs },
    });
    this.readyBytes = Math.min(READY_BYTES, o.collectionMaxBytes);
    this.readyCount = o.aggregation ? Number.POSITIVE_INFINITY : o.collectionMaxCount;
    // Every combination of options must be able to build a request: find out here, not in a timer.
    const largest = o.maxRecordBytesFromStream ? LARGEST_MAX_RECORD_BYTES : o.maxRecordBytes;
    for (const recordLimit of new Set([Math.min(DEFAULT_MAX_RECORD_BYTES, largest), largest])) {
      try {
        this.newRequestBuilder(recordLimit);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        throw new ConfigurationError(`these options cannot build a request: ${message}`);
      }
    }
    this.warnAboutSdkRetries();
  }

  /**
   * The largest record `put` accepts now: the `maxRecordBytes` option, else the stream's limit once
   * DescribeStreamSummary answered, else (before that) the largest any stream allows; records above 1 MiB
   * put before the answer are checked when it comes (`onMapLoaded`).
   */
  private recordLimit(): number {
    const o = this.options;
    if (!o.maxRecordBytesFromStream) return o.maxRecordBytes;
    return this.router.shardMap.limits?.maxRecordBytes ?? LARGEST_MAX_RECORD_BYTES;
  }

  /** {@link recordLimitName}, bound once: `put` passes it and calls it only for an error message. */
  private readonly limitName = (): string => this.recordLimitName();

  private recordLimitName(): string {
    if (!this.options.maxRecordBytesFromStream) return 'maxRecordBytes';
    const limits = this.router.shardMap.limits;
    if (limits === undefined) return 'the largest record size of any stream';
    return limits.assumedBecause === undefined
      ? "the stream's maximum record size (DescribeStreamSummary MaxRecordSizeInKiB)"
      : `the default maximum record size (DescribeStreamSummary failed: ${limits.assumedBecause})`;
  }

  private newRequestBuilder(recordLimit: number): RequestBuilder {
    const o = this.options;
    const requestLimitBytes = requestLimitFor(recordLimit);
    return new RequestBuilder({
      maxCount: o.collectionMaxCount,
      maxBytes: o.collectionMaxBytesSet
        ? Math.min(o.collectionMaxBytes, requestLimitBytes)
        : requestLimitBytes,
      requestLimitBytes,
      aggregation: o.aggregation,
      aggregationMaxBytes: o.aggregationMaxBytes,
      aggregationMaxRecords: o.aggregationMaxRecords,
      maxRecordBytes: recordLimit,
      ordered: o.ordered,
    });
  }

  /**
   * Puts a record. Resolves when Kinesis has stored it, with its shard and sequence number; rejects with a
   * `ProducerError`: `INVALID_RECORD` (at once), `BUFFER_FULL` (at once, nothing buffered), `PRODUCER_CLOSED`,
   * `EXPIRED` (not stored within `recordTtlMs`) or `SERVICE_ERROR` (a non-retriable answer).
   */
  put(record: ProducerRecord): Promise<PutResult> {
    if (this.closed) return Promise.reject(new ProducerClosedError());
    const valid = scratch;
    try {
      validateRecord(record, this.recordLimit(), this.options.aggregation, valid, this.limitName);
    } catch (error) {
      return Promise.reject(error);
    }
    const settlement = this.settlement;
    if (!settlement.hasCapacity(valid.bytes)) {
      valid.data = NO_DATA;
      settlement.refused();
      return Promise.reject(
        new BufferFullError(
          `buffer full (${settlement.count} records, ${settlement.bytes} bytes pending); await waitForCapacity()`,
        ),
      );
    }
    const promise = new Promise<PutResult>(captureSettlers);
    this.admit(valid, Date.now(), capturedResolve, capturedReject, undefined, 0);
    return promise;
  }

  /**
   * Puts many records without a promise each: resolves once, when every record has settled, with each
   * record's `PutResult` or `ProducerError` at its index (see `PutManyResult`). Records enter the
   * buffer in array order (so `ordered` keeps their order per key); when the buffer is full it waits for room
   * (`maxBufferedRecords`, `maxBufferedBytes`) instead of refusing, so a batch of any size stays within the
   * bounds. An invalid record fails alone (`INVALID_RECORD`); after `close()` the records not yet buffered
   * fail with `PRODUCER_CLOSED`. Rejects (`INVALID_RECORD`) only when `records` is not an array.
   */
  putMany(records: readonly ProducerRecord[]): Promise<PutManyResult> {
    if (!Array.isArray(records)) return Promise.reject(notAnArray());
    return new Promise<PutManyResult>((resolve) => {
      void this.admitAll(records, collectOutcomes(records.length, resolve));
    });
  }

  /**
   * The callback form of `putMany`: calls `onOutcome(error, result, index)` once per record as it settles
   * (records found invalid or refused after `close()` are reported at once, possibly before this returns).
   * Resolves when every record is in the buffer or has failed, not when they are stored: callers pace
   * themselves on it, and `flush()` waits for the rest. Rejects only when not given an array and a callback;
   * an `onOutcome` that throws is reported as a process warning.
   */
  putEach(records: readonly ProducerRecord[], onOutcome: PutOutcomeCallback): Promise<void> {
    if (!Array.isArray(records) || typeof onOutcome !== 'function') return Promise.reject(notAnArray());
    return this.admitAll(records, new RecordBatch(records.length, onOutcome, noop));
  }

  /**
   * Admits a batch's records in order, waiting for buffer room whenever the next record does not fit: one wait
   * (one promise) per time the buffer is full, not per record. Never rejects: a bug fails the records it had
   * not buffered yet (retriable), as `tick` does.
   */
  private async admitAll(records: readonly ProducerRecord[], batch: RecordBatch): Promise<void> {
    const progress = { index: 0 };
    try {
      await this.admitFrom(records, batch, progress);
    } catch (error) {
      const message = this.reportInternalError('while buffering a batch', error);
      for (let index = progress.index; index < records.length; index++) {
        batch.fail(
          index,
          new ServiceError('InternalProducerError', message, { retriable: true, cause: error }),
        );
      }
    }
  }

  private async admitFrom(
    records: readonly ProducerRecord[],
    batch: RecordBatch,
    progress: { index: number },
  ): Promise<void> {
    const settlement = this.settlement;
    const valid = scratch;
    let index = 0;
    while (index < records.length) {
      if (this.closed) {
        for (; index < records.length; index++) batch.fail(index, new ProducerClosedError());
        progress.index = index;
        return;
      }
      // One clock read per run of admissions: records admitted together share it.
      const now = Date.now();
      const runEnd = Math.min(records.length, index + ADMIT_RUN);
      for (; index < runEnd; index++) {
        progress.index = index;
        try {
          validateRecord(
            records[index] as ProducerRecord,
            this.recordLimit(),
            this.options.aggregation,
            valid,
            this.limitName,
          );
        } catch (error) {
          batch.fail(index, asProducerError(error));
          continue;
        }
        if (!settlement.hasCapacity(valid.bytes)) break;
        this.admit(valid, now, noop, noop, batch, index);
      }
      progress.index = index;
      if (index === records.length) return;
      if (index < runEnd) {
        // The buffer is full: wait for room for this record, then check it again.
        const bytes = valid.bytes;
        valid.data = NO_DATA;
        await settlement.waitForCapacity(bytes, undefined);
      } else {
        // A long batch lets I/O (and the producer's own sending) run between runs.
        await yieldToIo();
      }
    }
  }

  /** Buffers a validated record (read from `valid`, which is cleared) and wakes the loop when it is due. */
  private admit(
    valid: ValidRecord,
    now: number,
    resolve: (result: PutResult) => void,
    reject: (error: Error) => void,
    batch: RecordBatch | undefined,
    slot: number,
  ): void {
    const settlement = this.settlement;
    const pending: PendingRecord = {
      seq: settlement.nextSeq++,
      partitionKey: valid.partitionKey,
      explicitHashKey: valid.explicitHashKey,
      data: valid.data,
      bytes: valid.bytes,
      receivedAt: now,
      deadline: now + this.options.recordTtlMs,
      retry: undefined,
      attempts: NO_ATTEMPTS,
      sent: false,
      parked: false,
      settled: false,
      resolve,
      reject,
      batch,
      slot,
    };
    valid.data = NO_DATA; // the scratch object must not keep the caller's payload alive
    settlement.admit(pending);
    const buffer = this.router.route(pending);
    buffer.push(pending);
    // Without a map, tick loads one (or fails the record at once after a non-retriable listing error).
    if (buffer === this.router.unrouted) this.wakeup.soon();
    else if (buffer.bytes >= this.readyBytes || buffer.length >= this.readyCount) this.wakeup.soon();
    else this.wakeup.at(now + this.options.maxBufferedTimeMs);
  }

  /**
   * Resolves when a record of `bytes` bytes (data plus partition key) can be put without `BUFFER_FULL`:
   * backpressure without waiting for acknowledgements. Resolves at once after `close()` (the put will then
   * reject). Several waiters may wake for the same room; `put` can still refuse all but one.
   */
  waitForCapacity(bytes = 0, signal?: AbortSignal): Promise<void> {
    if (this.closed || this.settlement.hasCapacity(bytes)) return Promise.resolve();
    return this.settlement.waitForCapacity(bytes, signal);
  }

  /** Whether a record of `bytes` bytes would be buffered now. */
  hasCapacity(bytes = 0): boolean {
    return this.settlement.hasCapacity(bytes);
  }

  /**
   * Sends everything buffered without waiting for `maxBufferedTimeMs` and resolves when every record put
   * before the call has settled (the Lambda pattern: `await producer.flush()` before returning). Never rejects.
   */
  flush(): Promise<FlushResult> {
    if (this.settlement.count === 0) return Promise.resolve({ succeeded: 0, failed: 0 });
    const upTo = this.settlement.nextSeq - 1;
    this.flushUpTo = upTo;
    const promise = this.settlement.flushed(upTo);
    this.wakeup.soon();
    return promise;
  }

  /**
   * Refuses new records, flushes, and resolves when nothing is left pending. Safe to call more than once
   * (every call returns the same promise). Does not destroy the caller's Kinesis client.
   */
  close(): Promise<FlushResult> {
    if (this.closing === undefined) {
      this.closed = true;
      this.settlement.releaseWaiters();
      this.closing = this.flush().then((result) => {
        this.router.stop();
        this.wakeup.cancel();
        return result;
      });
    }
    return this.closing;
  }

  /** Whether `close()` was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * An object-mode `Writable` of `ProducerRecord`s: `pipeline(source, producer.writable())` flows at the speed
   * Kinesis accepts (writes wait for buffer capacity, not for acknowledgements) and finishes after a flush.
   */
  writable(options: ProducerWritableOptions = {}): Writable {
    return createProducerWritable(this, options);
  }

  /** A snapshot of the counters, named as the KPL's metrics. */
  metrics(): ProducerMetrics {
    return this.recorder.snapshot({
      pending: this.settlement.count,
      bufferedBytes: this.settlement.bytes,
      inFlightRequests: this.inFlight,
      rateLimitByShard: this.limiter.ratios(),
    });
  }

  // ---- scheduling ----

  private isReady(buffer: ShardBuffer, now: number): boolean {
    if (buffer.length === 0) return false;
    if (buffer.bytes >= this.readyBytes || buffer.length >= this.readyCount) return true;
    const oldest = buffer.oldestFresh();
    if (
      oldest !== undefined &&
      (oldest.seq <= this.flushUpTo || oldest.receivedAt + this.options.maxBufferedTimeMs <= now)
    ) {
      return true;
    }
    return buffer.hasDueRetry(now);
  }

  // The request being built by the running tick: what an internal error there must not lose.
  private building: RequestBuilder | undefined;

  /**
   * Runs from a timer or setImmediate, so it must never throw: an internal error fails the records the
   * request being built had taken (retriable: nothing was sent), is reported, and the producer goes on.
   */
  private tick(): void {
    try {
      this.tickUnguarded();
    } catch (error) {
      const builder = this.building;
      this.building = undefined;
      const message = this.reportInternalError('while building a request', error);
      // Nothing of it was sent: its rate allowance goes back.
      for (const entry of builder?.entries ?? []) entry.take.owner.cancel(entry.take);
      const taken = builder === undefined ? [] : builder.entries.flatMap((entry) => entry.records);
      this.settlement.failAll(
        taken.filter((record) => !record.settled),
        { code: 'InternalProducerError', message, retriable: true },
        error,
      );
      // Look again later (not at once: the same state may fail the same way); expiry still runs then.
      this.wakeup.at(Date.now() + this.options.retryBaseDelayMs);
    }
  }

  /** Expires what is due, sends what is ready, and sets the timer for the next thing to do. */
  private tickUnguarded(): void {
    const now = Date.now();
    const router = this.router;
    // Records that never got a map carry why: the listing's last failure.
    for (const record of router.unrouted.removeExpired(now))
      this.settlement.expire(record, router.lastMapError);
    for (const buffer of router.buffers.values()) {
      for (const record of buffer.removeExpired(now)) this.settlement.expire(record);
    }
    router.upkeep(now);
    let nextWake = Number.POSITIVE_INFINITY;
    const buffers = [...router.buffers.values()];
    while (this.inFlight < this.options.maxInFlightRequests && !router.holdsSends()) {
      const ready = buffers.filter((buffer) => this.isReady(buffer, now));
      if (ready.length === 0) break;
      const builder = this.newRequestBuilder(this.recordLimit());
      this.building = builder;
      // Rotate the starting shard so one busy shard cannot always fill the request first.
      this.rotation = (this.rotation + 1) % ready.length;
      for (let i = 0; i < ready.length && !builder.full; i++) {
        const buffer = ready[(this.rotation + i) % ready.length] as ShardBuffer;
        const { stop, waitMs } = builder.fillFrom(buffer, {
          now,
          limiter: this.limiter.get(buffer.shardId, now),
          busyKeys: this.busyKeys,
          reject: (record, error) => {
            const message = error instanceof Error ? error.message : String(error);
            this.settlement.failAll([record], { code: 'InvalidRecord', message, retriable: false }, error);
          },
        });
        if (stop === 'rateLimited') nextWake = Math.min(nextWake, now + Math.max(1, waitMs));
      }
      this.building = undefined;
      if (builder.entries.length === 0) break;
      this.dispatch(builder.entries, builder.userRecords);
    }
    // Next: a linger time running out, a backoff ending, a deadline, or the limiter refilling (above).
    // Only future times count: records already due but held back (maxInFlightRequests, ordered keys in
    // flight) are picked up when a request completes, so a blocked buffer never makes the timer spin.
    for (const buffer of router.buffers.values()) {
      if (buffer.length === 0) continue;
      const oldest = buffer.oldestFresh();
      const lingerEnd =
        oldest === undefined ? Number.POSITIVE_INFINITY : oldest.receivedAt + this.options.maxBufferedTimeMs;
      if (lingerEnd > now) nextWake = Math.min(nextWake, lingerEnd);
      nextWake = Math.min(nextWake, buffer.nextRetryAfter(now));
      nextWake = Math.min(nextWake, buffer.nextDeadline());
    }
    nextWake = Math.min(nextWake, router.unrouted.nextDeadline());
    if (nextWake !== Number.POSITIVE_INFINITY) this.wakeup.at(Math.max(nextWake, now + 1));
  }

  // ---- sending and results ----

  private dispatch(entries: Entry[], userRecords: number): void {
    const now = Date.now();
    const mapVersion = this.router.shardMap.version;
    const bufferingTime = this.recorder.bufferingTime;
    const busyKeys = this.options.ordered ? this.busyKeys : undefined;
    let deadline = 0;
    for (const entry of entries) {
      for (const record of entry.records) {
        if (!record.sent) {
          record.sent = true;
          bufferingTime.add(now - record.receivedAt);
        }
        if (record.deadline > deadline) deadline = record.deadline;
        if (busyKeys !== undefined)
          busyKeys.set(record.partitionKey, (busyKeys.get(record.partitionKey) ?? 0) + 1);
      }
    }
    this.recorder.kinesisRecordsPerRequest.add(entries.length);
    this.recorder.userRecordsPerRequest.add(userRecords);
    this.inFlight += 1;
    void this.sender
      .send(entries, deadline, (failed) => {
        this.recorder.error(failed.error.code);
        this.recorder.requestTime.add(failed.durationMs);
        for (const entry of entries) {
          for (const record of entry.records) {
            this.addAttempt(
              record,
              failed.startedAt,
              failed.durationMs,
              false,
              failed.error,
              failed.sdkAttempts,
            );
          }
        }
      })
      .then((outcome) => {
        this.inFlight -= 1;
        answered(entries, Date.now());
        if (outcome.ok) {
          this.recorder.requestTime.add(outcome.durationMs);
          this.onResults(
            entries,
            outcome.results,
            outcome.startedAt,
            outcome.durationMs,
            outcome.sdkAttempts,
            mapVersion,
          );
        } else {
          this.onRequestFailed(entries, userRecords, outcome.error, outcome.cause);
        }
        this.wakeup.soon();
      })
      .catch((error: unknown) => {
        answered(entries, Date.now());
        // A bug must not leave puts unsettled: whatever this request still holds fails, retriable.
        const message = error instanceof Error ? error.message : String(error);
        this.options.logger?.error('internal error while handling a PutRecords answer', { message });
        this.notify('warning', { message: `internal error while handling a PutRecords answer: ${message}` });
        const unsettled = entries.flatMap((entry) => entry.records.filter((r) => !r.settled && !r.parked));
        this.settlement.failAll(
          unsettled,
          { code: 'InternalProducerError', message, retriable: true },
          error,
        );
        this.wakeup.soon();
      });
  }

  private onResults(
    entries: Entry[],
    results: PutRecordsResultEntry[],
    startedAt: number,
    durationMs: number,
    sdkAttempts: number | undefined,
    mapVersion: number,
  ): void {
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
        this.limiter.get(entry.shardId, now).onSuccess(now);
        this.recorder.kinesisRecordsPut += 1;
        this.recorder.kinesisRecordsDataPut += entry.bytes;
        this.recorder.userRecordsPerKinesisRecord.add(entry.records.length);
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
            record.attempts = firstAttempts;
          } else {
            this.addAttempt(record, startedAt, durationMs, true, undefined, sdkAttempts, !park);
          }
          if (park) this.router.park(record, entry, ShardId, SequenceNumber, index);
          else this.settlement.succeed(record, ShardId, SequenceNumber, entry.aggregated ? index : undefined);
        }
      } else {
        failedEntries += 1;
        const error: ClassifiedError = {
          code: result.ErrorCode ?? 'UnknownError',
          message: result.ErrorMessage ?? 'no error message',
          retriable: isRetriableEntryCode(result.ErrorCode ?? ''),
        };
        this.recorder.error(error.code);
        if (error.code === THROTTLED) {
          this.limiter.get(entry.shardId, now).onThrottle(now);
          this.recorder.throttle(entry.shardId);
          throttledShards.add(entry.shardId);
        }
        for (const record of entry.records)
          this.addAttempt(record, startedAt, durationMs, false, error, sdkAttempts);
        if (!error.retriable || (error.code === THROTTLED && this.options.failIfThrottled)) {
          this.settlement.failAll(entry.records, error, undefined);
        } else {
          for (const record of entry.records) this.retry(record, error, now);
          this.notify('retry', {
            shardId: entry.shardId,
            errorCode: error.code,
            userRecords: entry.records.length,
          });
        }
      }
      this.release(entry.records);
    }
    for (const shardId of throttledShards) {
      this.notify('throttled', { shardId, rateLimit: this.limiter.get(shardId, now).ratio });
    }
    this.notify('request', { entries: entries.length, userRecords, failedEntries, durationMs });
    this.router.onAnswered(mapVersion, wrongShard);
  }

  private onRequestFailed(
    entries: Entry[],
    userRecords: number,
    error: ClassifiedError,
    cause: unknown,
  ): void {
    const now = Date.now();
    this.notify('requestFailed', {
      errorCode: error.code,
      retriable: error.retriable,
      entries: entries.length,
      userRecords,
    });
    this.options.logger?.warn('PutRecords failed', {
      errorCode: error.code,
      retriable: error.retriable,
      entries: entries.length,
    });
    for (const entry of entries) {
      if (error.retriable) {
        for (const record of entry.records) this.retry(record, error, now);
        this.notify('retry', {
          shardId: entry.shardId,
          errorCode: error.code,
          userRecords: entry.records.length,
        });
      } else {
        this.settlement.failAll(entry.records, error, cause);
      }
      this.release(entry.records);
    }
  }

  private addAttempt(
    record: PendingRecord,
    startedAt: number,
    durationMs: number,
    success: boolean,
    error: ClassifiedError | undefined,
    sdkAttempts: number | undefined,
    settles = false,
  ): void {
    const attempt: Attempt = {
      delayMs: Math.max(0, startedAt - (record.retry?.lastAttemptEnd || record.receivedAt)),
      durationMs,
      success,
      errorCode: error?.code,
      errorMessage: error?.message,
      sdkAttempts,
    };
    // Most records need one attempt: an exact one-element array instead of growing an empty one.
    if (record.attempts === NO_ATTEMPTS) record.attempts = [attempt];
    else record.attempts.push(attempt);
    // Only a later attempt needs this end: a record this attempt settles needs no retry state.
    if (!settles) retryStateOf(record).lastAttemptEnd = startedAt + durationMs;
  }

  /** Puts a record back in its shard's buffer after a full-jitter backoff, or expires it if no time is left. */
  private retry(record: PendingRecord, error: ClassifiedError, now: number): void {
    const state = retryStateOf(record);
    state.lastError = error;
    const delay = fullJitterDelay(state.retries, {
      baseDelayMs: this.options.retryBaseDelayMs,
      maxDelayMs: this.options.retryMaxDelayMs,
    });
    state.retries += 1;
    if (now + delay >= record.deadline) {
      this.settlement.expire(record);
      return;
    }
    state.notBefore = now + delay;
    this.router.route(record).insert(record);
    this.wakeup.at(state.notBefore);
  }

  // Ordered mode: the records' keys no longer have these records in flight.
  private release(records: PendingRecord[]): void {
    if (!this.options.ordered) return;
    for (const record of records) {
      if (record.parked) continue;
      this.unbusy(record.partitionKey);
    }
  }

  private unbusy(key: string): void {
    const count = (this.busyKeys.get(key) ?? 0) - 1;
    if (count > 0) this.busyKeys.set(key, count);
    else this.busyKeys.delete(key);
  }

  // ---- shard map ----

  private onMapLoaded(reason: RefreshReason, shards: readonly ShardRange[]): void {
    this.recorder.shardMapRefreshes += 1;
    this.checkUnroutedSizes();
    this.limiter.retain(new Set(shards.map((shard) => shard.shardId)));
    this.options.logger?.info('shard map loaded', { reason, shards: shards.length });
    this.notify('shardMapRefreshed', { reason, shards: shards.length });
  }

  /** Reports a bug caught where throwing would end the process (logger error, `warning` event). */
  private reportInternalError(where: string, error: unknown): string {
    const message = error instanceof Error ? error.message : String(error);
    this.options.logger?.error(`internal error ${where}`, { message });
    this.notify('warning', { message: `internal error ${where}: ${message}` });
    return message;
  }

  /**
   * Records put before the stream's limit was known were checked against the largest any stream allows;
   * now that it is known, those above it fail as `put` would have failed them (the rest are routed next).
   */
  private checkUnroutedSizes(): void {
    const limit = this.recordLimit();
    const unrouted = this.router.unrouted;
    if (limit >= LARGEST_MAX_RECORD_BYTES || unrouted.length === 0) return;
    const limits = this.router.shardMap.limits;
    if (limits?.assumedBecause !== undefined) {
      this.options.logger?.warn(
        'DescribeStreamSummary failed; assuming the default 1 MiB maximum record size (set maxRecordBytes to override)',
        { errorCode: limits.assumedBecause },
      );
    }
    const records = unrouted.removeAll();
    const tooLarge: PendingRecord[] = [];
    for (const record of records) {
      if (record.bytes <= limit) unrouted.putBack(record);
      else tooLarge.push(record);
    }
    for (const record of tooLarge) {
      this.settlement.fail(
        record,
        new ValidationError(
          `record is ${record.bytes} bytes (data plus partition key), above ${this.recordLimitName()} ${limit}`,
        ),
      );
    }
  }

  private onMapFailed(error: ClassifiedError): void {
    const { code, retriable, message } = error;
    const configuration = error.configuration === true;
    this.recorder.error(code);
    this.notify('shardMapRefreshFailed', { errorCode: code, retriable, message, configuration });
    this.options.logger?.warn('shard map refresh failed', { errorCode: code, retriable, message });
  }

  /**
   * Emits an event. A listener that throws is reported (process warning, logger) instead of unwinding the
   * producer's own bookkeeping (see userCode.ts).
   */
  private notify<K extends keyof ProducerEvents>(event: K, ...args: ProducerEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: ProducerEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.options.logger?.error('a producer event listener threw', { event, message });
      reportUserCodeError(`a listener of the producer's '${event}' event`, error);
    }
  }

  private warnAboutSdkRetries(): void {
    void clientMaxAttempts(this.options.client).then((value) => {
      if (value !== undefined && value > 1) {
        const message = `the Kinesis client retries on its own (maxAttempts ${value}); its retries run inside each producer attempt, bounded by requestTimeoutMs. Pass a client with maxAttempts: 1 to leave retrying to the producer.`;
        this.options.logger?.warn(message);
        this.notify('warning', { message });
      }
    });
  }
}
