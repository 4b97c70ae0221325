import type { Writable } from 'node:stream';
import type { RecordLimits } from './collection/RecordLimits.js';
import type { Scheduler } from './collection/Scheduler.js';
import { BufferFullError, ProducerClosedError, ValidationError } from './errors.js';
import { ProducerEventEmitter, type ProducerEvents } from './events.js';
import { MetricsRecorder, type ProducerMetrics } from './metrics.js';
import { type ProducerOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { type Admission, scratch } from './routing/Admission.js';
import type { RefreshReason } from './routing/ShardRouter.js';
import { clientMaxAttempts } from './sending/Sender.js';
import {
  collectOutcomes,
  type PutManyResult,
  type PutOutcomeCallback,
  RecordBatch,
} from './settlement/RecordBatch.js';
import type { Settlement } from './settlement/Settlement.js';
import { assertBuildsRequests, buildStages, type Stages } from './stages.js';
import type { FlushResult, ProducerRecord, PutResult, ShardRange } from './types.js';
import { reportUserCodeError } from './userCode.js';
import { validateRecord } from './validation.js';
import { Wakeup } from './Wakeup.js';
import { createProducerWritable, type ProducerWritableOptions } from './writable.js';

// Every put's promise shares one executor, which hands over its functions without a closure per put
// (it runs synchronously inside `new Promise`, so `put` reads them right after).
let capturedResolve: (result: PutResult) => void = () => undefined;
let capturedReject: (error: Error) => void = () => undefined;
const noop = (): void => undefined;

function notAnArray(): ValidationError {
  return new ValidationError(
    'putMany and putEach take an array of records (and putEach an outcome callback)',
  );
}

function captureSettlers(resolve: (result: PutResult) => void, reject: (error: Error) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/**
 * A KPL-class Kinesis producer: shard-aware aggregation, collection into PutRecords requests, per-shard rate
 * limiting, retries of failed entries with backoff until a TTL, optional per-key ordering, bounded memory
 * and a per-record result. Every `put` settles exactly once.
 *
 * This class is the public face only; the work is done by the pipeline's stages (wired in stages.ts):
 * put -> routing (Admission, ShardRouter) -> collection (Scheduler, RequestBuilder, RateLimiter, KeyGate) ->
 * sending (Dispatcher, Sender) -> settlement (Results, Settlement, RecordLifecycle).
 */
export class KinesisProducer extends ProducerEventEmitter {
  /** The stream's name (from `streamARN` when that is what was given), as metric exporters report it. */
  readonly streamName: string;
  private readonly options: ResolvedOptions;
  private readonly recorder = new MetricsRecorder();
  private readonly stages: Stages;
  // The stages `put` and `flush` use, held directly (hot path).
  private readonly settlement: Settlement;
  private readonly limits: RecordLimits;
  private readonly admission: Admission;
  private readonly scheduler: Scheduler;
  private closed = false;
  private closing: Promise<FlushResult> | undefined;
  private readonly wakeup = new Wakeup(() => this.scheduler.tick());

  /** @throws ConfigurationError for an invalid option. */
  constructor(options: ProducerOptions) {
    super();
    this.options = resolveOptions(options);
    const o = this.options;
    this.streamName = o.streamName ?? o.streamARN?.slice(o.streamARN.lastIndexOf('/') + 1) ?? '';
    const stages = buildStages(o, this.recorder, this.wakeup, {
      notify: (event, ...args) => this.notify(event, ...args),
      reportInternalError: (where, error) => this.reportInternalError(where, error),
      // Through a method of the face, so a test can make exactly this handler fail (largeRecords.test.ts).
      mapLoaded: (reason, shards) => this.onMapLoaded(reason, shards),
      isClosed: () => this.closed,
    });
    this.stages = stages;
    this.settlement = stages.settlement;
    this.limits = stages.limits;
    this.admission = stages.admission;
    this.scheduler = stages.scheduler;
    assertBuildsRequests(o, stages.limits);
    this.warnAboutSdkRetries();
  }

  /**
   * Puts a record. Resolves when Kinesis has stored it, with its shard and sequence number; rejects with a
   * `ProducerError`: `INVALID_RECORD` (at once), `BUFFER_FULL` (at once, nothing buffered), `PRODUCER_CLOSED`,
   * `EXPIRED` (not stored within `recordTtlMs`) or `SERVICE_ERROR` (a non-retriable answer).
   */
  put(record: ProducerRecord): Promise<PutResult> {
    if (this.closed) return Promise.reject(new ProducerClosedError());
    const valid = scratch;
    const limits = this.limits;
    try {
      validateRecord(record, limits.recordLimit(), this.options.aggregation, valid, limits.limitName);
    } catch (error) {
      return Promise.reject(error);
    }
    const settlement = this.settlement;
    if (!settlement.hasCapacity(valid.bytes)) {
      this.admission.clear(valid);
      settlement.refused();
      return Promise.reject(
        new BufferFullError(
          `buffer full (${settlement.count} records, ${settlement.bytes} bytes pending); await waitForCapacity()`,
        ),
      );
    }
    const promise = new Promise<PutResult>(captureSettlers);
    this.admission.admit(valid, Date.now(), capturedResolve, capturedReject, undefined, 0);
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
      void this.admission.admitAll(records, collectOutcomes(records.length, resolve));
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
    return this.admission.admitAll(records, new RecordBatch(records.length, onOutcome, noop));
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
    this.scheduler.flushUpTo = upTo;
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
        this.stages.router.stop();
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
      inFlightRequests: this.stages.dispatcher.inFlight,
      rateLimitByShard: this.stages.limiter.ratios(),
    });
  }

  private onMapLoaded(reason: RefreshReason, shards: readonly ShardRange[]): void {
    this.stages.mapEvents.loaded(reason, shards);
  }

  /** Reports a bug caught where throwing would end the process (logger error, `warning` event). */
  private reportInternalError(where: string, error: unknown): string {
    const message = error instanceof Error ? error.message : String(error);
    this.options.logger?.error(`internal error ${where}`, { message });
    this.notify('warning', { message: `internal error ${where}: ${message}` });
    return message;
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
