import type { Writable } from 'node:stream';
import type { PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import { partitionKeyHash } from '@shardline/aggregation';
import { fullJitterDelay } from './backoff.js';
import { type Entry, RequestBuilder } from './Collector.js';
import {
  BufferFullError,
  type ClassifiedError,
  ExpiredError,
  isRetriableEntryCode,
  ProducerClosedError,
  ServiceError,
} from './errors.js';
import { ProducerEventEmitter } from './events.js';
import { MetricsRecorder, type ProducerMetrics } from './metrics.js';
import { type ProducerOptions, type ResolvedOptions, resolveOptions } from './options.js';
import type { PendingRecord } from './PendingRecord.js';
import { RateLimiter } from './RateLimiter.js';
import { clientMaxAttempts, Sender } from './Sender.js';
import { ShardBuffer } from './ShardBuffer.js';
import { ShardMap, ShardMapError } from './ShardMap.js';
import type { Attempt, FlushResult, ProducerRecord, PutResult } from './types.js';
import { validateRecord } from './validation.js';
import { CapacityWaiters, FlushWaiters } from './Waiters.js';
import { Wakeup } from './Wakeup.js';
import { createProducerWritable, type ProducerWritableOptions } from './writable.js';

const THROTTLED = 'ProvisionedThroughputExceededException';
// A shard's buffer goes out before its linger time once this much waits (the KPL's 256 KiB trigger).
const READY_BYTES = 256 * 1024;

// A record inside an aggregate that Kinesis stored on a shard other than the predicted one (the map was
// stale). Whether that shard owns the record's own hash key is known only once the map is fresh again.
interface Parked {
  record: PendingRecord;
  entry: Entry;
  shardId: string;
  sequenceNumber: string;
  subSequenceNumber: number;
}

/**
 * A KPL-class Kinesis producer: shard-aware aggregation, collection into PutRecords requests, per-shard rate
 * limiting, retries of failed entries with backoff until a TTL, optional per-key ordering, bounded memory
 * and a per-record result. Every `put` settles exactly once.
 */
export class KinesisProducer extends ProducerEventEmitter {
  private readonly options: ResolvedOptions;
  private readonly shardMap: ShardMap;
  private readonly limiter: RateLimiter;
  private readonly sender: Sender;
  private readonly recorder = new MetricsRecorder();
  private readonly readyBytes: number;
  private readonly readyCount: number;

  private buffers = new Map<string, ShardBuffer>();
  // Records put before the first shard map arrived.
  private readonly unrouted = new ShardBuffer('');
  private parked: Parked[] = [];
  // Ordered mode: records per partition key that are in flight or parked.
  private readonly busyKeys = new Map<string, number>();
  private nextSeq = 0;
  private pendingCount = 0;
  private pendingBytes = 0;
  private inFlight = 0;
  private flushUpTo = -1;
  private readonly flushWaiters = new FlushWaiters();
  private readonly capacityWaiters = new CapacityWaiters();
  private refusedSinceDrain = false;
  private mapRefreshing = false;
  private closed = false;
  private closing: Promise<FlushResult> | undefined;
  private readonly wakeup = new Wakeup(() => this.tick());
  private rotation = 0;
  private readonly hasCapacityFn = (bytes: number): boolean => this.hasCapacity(bytes);

  /** @throws ConfigurationError for an invalid option. */
  constructor(options: ProducerOptions) {
    super();
    this.options = resolveOptions(options);
    const o = this.options;
    this.shardMap = new ShardMap({
      client: o.client,
      streamName: o.streamName,
      streamARN: o.streamARN,
      minDelayMs: o.shardMapRefreshMinDelayMs,
      maxDelayMs: o.shardMapRefreshMaxDelayMs,
      requestTimeoutMs: o.requestTimeoutMs,
    });
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
    this.warnAboutSdkRetries();
  }

  /**
   * Puts a record. Resolves when Kinesis has stored it, with its shard and sequence number; rejects with a
   * `ProducerError`: `INVALID_RECORD` (at once), `BUFFER_FULL` (at once, nothing buffered), `PRODUCER_CLOSED`,
   * `EXPIRED` (not stored within `recordTtlMs`) or `SERVICE_ERROR` (a non-retriable answer).
   */
  put(record: ProducerRecord): Promise<PutResult> {
    if (this.closed) return Promise.reject(new ProducerClosedError());
    let valid: ReturnType<typeof validateRecord>;
    try {
      valid = validateRecord(record, this.options.maxRecordBytes, this.options.aggregation);
    } catch (error) {
      return Promise.reject(error);
    }
    if (!this.hasCapacity(valid.bytes)) {
      this.refusedSinceDrain = true;
      return Promise.reject(
        new BufferFullError(
          `buffer full (${this.pendingCount} records, ${this.pendingBytes} bytes pending); await waitForCapacity()`,
        ),
      );
    }
    const now = Date.now();
    return new Promise<PutResult>((resolve, reject) => {
      const pending: PendingRecord = {
        seq: this.nextSeq++,
        partitionKey: valid.partitionKey,
        explicitHashKey: valid.explicitHashKey,
        data: valid.data,
        bytes: valid.bytes,
        hashKey:
          valid.explicitHashKey === undefined
            ? partitionKeyHash(valid.partitionKey)
            : BigInt(valid.explicitHashKey),
        receivedAt: now,
        deadline: now + this.options.recordTtlMs,
        notBefore: 0,
        lastAttemptEnd: now,
        retries: 0,
        attempts: [],
        lastError: undefined,
        sent: false,
        parked: false,
        settled: false,
        resolve,
        reject,
      };
      this.pendingCount += 1;
      this.pendingBytes += pending.bytes;
      this.recorder.userRecordsReceived += 1;
      const buffer = this.route(pending);
      buffer.push(pending);
      if (buffer === this.unrouted) this.refreshMap('initial');
      else if (buffer.bytes >= this.readyBytes || buffer.length >= this.readyCount) this.wakeup.soon();
      else this.wakeup.at(now + this.options.maxBufferedTimeMs);
    });
  }

  /**
   * Resolves when a record of `bytes` bytes (data plus partition key) can be put without `BUFFER_FULL`:
   * backpressure without waiting for acknowledgements. Resolves at once after `close()` (the put will then
   * reject). Several waiters may wake for the same room; `put` can still refuse all but one.
   */
  waitForCapacity(bytes = 0, signal?: AbortSignal): Promise<void> {
    if (this.closed || this.hasCapacity(bytes)) return Promise.resolve();
    return this.capacityWaiters.wait(bytes, signal);
  }

  /** Whether a record of `bytes` bytes would be buffered now. */
  hasCapacity(bytes = 0): boolean {
    return (
      this.pendingCount < this.options.maxBufferedRecords &&
      (this.pendingCount === 0 || this.pendingBytes + bytes <= this.options.maxBufferedBytes)
    );
  }

  /**
   * Sends everything buffered without waiting for `maxBufferedTimeMs` and resolves when every record put
   * before the call has settled (the Lambda pattern: `await producer.flush()` before returning). Never rejects.
   */
  flush(): Promise<FlushResult> {
    if (this.pendingCount === 0) return Promise.resolve({ succeeded: 0, failed: 0 });
    const upTo = this.nextSeq - 1;
    this.flushUpTo = upTo;
    const promise = this.flushWaiters.add(upTo, this.pendingCount);
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
      this.capacityWaiters.releaseAll();
      this.closing = this.flush().then((result) => {
        this.shardMap.stop();
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
      pending: this.pendingCount,
      bufferedBytes: this.pendingBytes,
      inFlightRequests: this.inFlight,
      rateLimitByShard: this.limiter.ratios(),
    });
  }

  // ---- routing and scheduling ----

  private route(record: PendingRecord): ShardBuffer {
    if (!this.shardMap.ready) return this.unrouted;
    const shard = this.shardMap.lookup(record.hashKey);
    if (shard === undefined) return this.unrouted;
    let buffer = this.buffers.get(shard.shardId);
    if (buffer === undefined) {
      buffer = new ShardBuffer(shard.shardId);
      this.buffers.set(shard.shardId, buffer);
    }
    return buffer;
  }

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

  /** Expires what is due, sends what is ready, and sets the timer for the next thing to do. */
  private tick(): void {
    const now = Date.now();
    for (const record of this.unrouted.removeExpired(now)) this.expire(record);
    for (const buffer of this.buffers.values()) {
      for (const record of buffer.removeExpired(now)) this.expire(record);
    }
    if (this.unrouted.length > 0) this.refreshMap('initial');
    let nextWake = Number.POSITIVE_INFINITY;
    const buffers = [...this.buffers.values()];
    while (this.inFlight < this.options.maxInFlightRequests) {
      const ready = buffers.filter((buffer) => this.isReady(buffer, now));
      if (ready.length === 0) break;
      const builder = new RequestBuilder({
        maxCount: this.options.collectionMaxCount,
        maxBytes: this.options.collectionMaxBytes,
        aggregation: this.options.aggregation,
        aggregationMaxBytes: this.options.aggregationMaxBytes,
        aggregationMaxRecords: this.options.aggregationMaxRecords,
        maxRecordBytes: this.options.maxRecordBytes,
        ordered: this.options.ordered,
      });
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
            this.failAll([record], { code: 'InvalidRecord', message, retriable: false }, error);
          },
        });
        if (stop === 'rateLimited') nextWake = Math.min(nextWake, now + Math.max(1, waitMs));
      }
      if (builder.entries.length === 0) break;
      this.dispatch(builder.entries, builder.userRecords);
    }
    // Next: a linger time running out, a backoff ending, a deadline, or the limiter refilling (above).
    // Only future times count: records already due but held back (maxInFlightRequests, ordered keys in
    // flight) are picked up when a request completes, so a blocked buffer never makes the timer spin.
    for (const buffer of this.buffers.values()) {
      if (buffer.length === 0) continue;
      const oldest = buffer.oldestFresh();
      const lingerEnd =
        oldest === undefined ? Number.POSITIVE_INFINITY : oldest.receivedAt + this.options.maxBufferedTimeMs;
      if (lingerEnd > now) nextWake = Math.min(nextWake, lingerEnd);
      nextWake = Math.min(nextWake, buffer.nextRetryAfter(now));
      nextWake = Math.min(nextWake, buffer.nextDeadline());
    }
    nextWake = Math.min(nextWake, this.unrouted.nextDeadline());
    if (nextWake !== Number.POSITIVE_INFINITY) this.wakeup.at(Math.max(nextWake, now + 1));
  }

  // ---- sending and results ----

  private dispatch(entries: Entry[], userRecords: number): void {
    const now = Date.now();
    const mapVersion = this.shardMap.version;
    let deadline = 0;
    for (const entry of entries) {
      for (const record of entry.records) {
        if (!record.sent) {
          record.sent = true;
          this.recorder.bufferingTime.add(now - record.receivedAt);
        }
        if (record.deadline > deadline) deadline = record.deadline;
        if (this.options.ordered)
          this.busyKeys.set(record.partitionKey, (this.busyKeys.get(record.partitionKey) ?? 0) + 1);
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
        // A bug must not leave puts unsettled: whatever this request still holds fails, retriable.
        const message = error instanceof Error ? error.message : String(error);
        this.options.logger?.error('internal error while handling a PutRecords answer', { message });
        this.emit('warning', { message: `internal error while handling a PutRecords answer: ${message}` });
        const unsettled = entries.flatMap((entry) => entry.records.filter((r) => !r.settled && !r.parked));
        this.failAll(unsettled, { code: 'InternalProducerError', message, retriable: true }, error);
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
        entry.records.forEach((record, index) => {
          this.addAttempt(record, startedAt, durationMs, true, undefined, sdkAttempts);
          const subSequenceNumber = entry.aggregated ? index : undefined;
          // Kinesis routed the aggregate by its first record's hash key; the others may belong elsewhere.
          if (misrouted && entry.records.length > 1) {
            record.parked = true;
            this.parked.push({
              record,
              entry,
              shardId: ShardId,
              sequenceNumber: SequenceNumber,
              subSequenceNumber: index,
            });
          } else {
            this.succeed(record, ShardId, SequenceNumber, subSequenceNumber);
          }
        });
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
          this.failAll(entry.records, error, undefined);
        } else {
          for (const record of entry.records) this.retry(record, error, now);
          this.emit('retry', {
            shardId: entry.shardId,
            errorCode: error.code,
            userRecords: entry.records.length,
          });
        }
      }
      this.release(entry.records);
    }
    for (const shardId of throttledShards) {
      this.emit('throttled', { shardId, rateLimit: this.limiter.get(shardId, now).ratio });
    }
    this.emit('request', { entries: entries.length, userRecords, failedEntries, durationMs });
    if (wrongShard) {
      // Answers to requests built from an older map than the current one need no new refresh.
      if (mapVersion === this.shardMap.version) this.refreshMap('wrongShard');
      else if (!this.mapRefreshing) this.settleParked();
    }
  }

  private onRequestFailed(
    entries: Entry[],
    userRecords: number,
    error: ClassifiedError,
    cause: unknown,
  ): void {
    const now = Date.now();
    this.emit('requestFailed', {
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
        this.emit('retry', {
          shardId: entry.shardId,
          errorCode: error.code,
          userRecords: entry.records.length,
        });
      } else {
        this.failAll(entry.records, error, cause);
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
  ): void {
    const attempt: Attempt = {
      delayMs: Math.max(0, startedAt - record.lastAttemptEnd),
      durationMs,
      success,
      errorCode: error?.code,
      errorMessage: error?.message,
      sdkAttempts,
    };
    record.attempts.push(attempt);
    record.lastAttemptEnd = startedAt + durationMs;
  }

  /** Puts a record back in its shard's buffer after a full-jitter backoff, or expires it if no time is left. */
  private retry(record: PendingRecord, error: ClassifiedError, now: number): void {
    record.lastError = error;
    const delay = fullJitterDelay(record.retries, {
      baseDelayMs: this.options.retryBaseDelayMs,
      maxDelayMs: this.options.retryMaxDelayMs,
    });
    record.retries += 1;
    if (now + delay >= record.deadline) {
      this.expire(record);
      return;
    }
    record.notBefore = now + delay;
    this.route(record).insert(record);
    this.wakeup.at(record.notBefore);
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

  private refreshMap(reason: 'initial' | 'wrongShard'): void {
    if (this.mapRefreshing || (reason === 'initial' && this.shardMap.ready)) return;
    this.mapRefreshing = true;
    this.shardMap.refresh(Date.now() + this.options.recordTtlMs).then(
      () => {
        this.mapRefreshing = false;
        this.onMapLoaded(reason);
      },
      (error: unknown) => {
        this.mapRefreshing = false;
        this.onMapFailed(error);
      },
    );
  }

  private onMapLoaded(reason: 'initial' | 'wrongShard'): void {
    const shards = this.shardMap.shards;
    this.recorder.shardMapRefreshes += 1;
    this.limiter.retain(new Set(shards.map((shard) => shard.shardId)));
    this.options.logger?.info('shard map loaded', { reason, shards: shards.length });
    this.emit('shardMapRefreshed', { reason, shards: shards.length });
    // Re-route everything buffered: a reshard moves hash ranges to new shards.
    const all = this.unrouted.removeAll();
    for (const buffer of this.buffers.values()) all.push(...buffer.removeAll());
    all.sort((a, b) => a.seq - b.seq);
    this.buffers = new Map();
    for (const record of all) {
      const buffer = this.route(record);
      if (record.retries > 0) buffer.insert(record);
      else buffer.push(record);
    }
    this.settleParked();
    this.wakeup.soon();
  }

  private onMapFailed(error: unknown): void {
    const code = error instanceof ShardMapError ? error.serviceCode : 'UnknownError';
    const retriable = error instanceof ShardMapError ? error.retriable : true;
    this.recorder.error(code);
    this.emit('shardMapRefreshFailed', { errorCode: code, retriable });
    this.options.logger?.warn('shard map refresh failed', { errorCode: code, retriable });
    if (!retriable) {
      // Without a map nothing can be routed: fail fast what waits for one (AccessDenied, stream not found).
      const message = error instanceof Error ? error.message : String(error);
      this.failAll(this.unrouted.removeAll(), { code, message, retriable }, error);
    }
    // Parked records are stored; without a fresh map their shard's ownership cannot be checked, so they are
    // reported where Kinesis put them.
    this.settleParked(true);
    this.wakeup.soon();
  }

  /** Decides the fate of records stored inside an aggregate that Kinesis put on an unpredicted shard. */
  private settleParked(trustKinesis = false): void {
    const parked = this.parked;
    this.parked = [];
    const now = Date.now();
    const misplaced = (p: Parked): boolean =>
      !trustKinesis && this.shardMap.lookup(p.record.hashKey)?.shardId !== p.shardId;
    // KCL 2.x drops a whole aggregate with any member outside the shard's range; in that mode such an
    // aggregate's members are all sent again, not only the misplaced ones.
    const broken = new Set<Entry>();
    if (this.options.reshardResend === 'wholeAggregate') {
      for (const p of parked) if (misplaced(p)) broken.add(p.entry);
    }
    for (const p of parked) {
      const { record, shardId, sequenceNumber, subSequenceNumber } = p;
      record.parked = false;
      if (!misplaced(p) && !broken.has(p.entry)) {
        this.succeed(record, shardId, sequenceNumber, subSequenceNumber);
      } else {
        // Stored on a shard that does not own its hash key (or next to such a record, in wholeAggregate
        // mode): range-filtering consumers drop it there, so it is sent again to its owner.
        const last = record.attempts[record.attempts.length - 1];
        if (last !== undefined) {
          last.success = false;
          last.errorCode = 'WrongShard';
          last.errorMessage = misplaced(p)
            ? `stored on ${shardId}, which does not own its hash key after a reshard`
            : `stored on ${shardId} in an aggregate with members of another shard after a reshard`;
        }
        this.recorder.error('WrongShard');
        record.notBefore = now;
        this.route(record).insert(record);
      }
      if (this.options.ordered) this.unbusy(record.partitionKey);
    }
    if (parked.length > 0) this.wakeup.soon();
  }

  // ---- settlement ----

  private succeed(
    record: PendingRecord,
    shardId: string,
    sequenceNumber: string,
    subSequenceNumber: number | undefined,
  ): void {
    if (record.settled) return;
    this.recorder.userRecordsPut += 1;
    this.recorder.userRecordsDataPut += record.bytes;
    // One object shape for every result (hot path: one per record).
    const result: PutResult = { shardId, sequenceNumber, subSequenceNumber, attempts: record.attempts };
    // Settled before flush waiters hear of it, so `await flush()` resumes after the put's own callbacks.
    record.resolve(result);
    this.settle(record, true);
  }

  private expire(record: PendingRecord): void {
    if (record.settled) return;
    this.recorder.userRecordExpired += 1;
    this.recorder.error('Expired');
    const last = record.lastError;
    record.reject(
      new ExpiredError(
        `record not stored within recordTtlMs (${this.options.recordTtlMs} ms)${last ? `; last error ${last.code}` : ''}`,
        record.attempts,
        last === undefined
          ? undefined
          : new ServiceError(last.code, last.message, { retriable: last.retriable }),
      ),
    );
    this.settle(record, false);
    this.emit('recordsFailed', { code: 'EXPIRED', userRecords: 1 });
  }

  private failAll(records: PendingRecord[], error: ClassifiedError, cause: unknown): void {
    let count = 0;
    for (const record of records) {
      if (!this.settle(record, false)) continue;
      count += 1;
      record.reject(
        new ServiceError(error.code, error.message, {
          retriable: error.retriable,
          cause,
          attempts: record.attempts,
        }),
      );
    }
    if (count > 0)
      this.emit('recordsFailed', { code: 'SERVICE_ERROR', serviceCode: error.code, userRecords: count });
  }

  /** Marks a record settled exactly once and updates everything waiting on it; false if it already was. */
  private settle(record: PendingRecord, success: boolean): boolean {
    if (record.settled) return false;
    record.settled = true;
    this.pendingCount -= 1;
    this.pendingBytes -= record.bytes;
    if (!success) this.recorder.userRecordsFailed += 1;
    // Every attempt but a final success failed.
    this.recorder.retriesPerRecord.add(record.attempts.length - (success ? 1 : 0));
    this.flushWaiters.settled(record.seq, success);
    this.capacityWaiters.wake(this.hasCapacityFn);
    if (this.refusedSinceDrain && this.hasCapacity()) {
      this.refusedSinceDrain = false;
      this.emit('drain');
    }
    if (this.pendingCount === 0) this.wakeup.cancel();
    return true;
  }

  private warnAboutSdkRetries(): void {
    void clientMaxAttempts(this.options.client).then((value) => {
      if (value !== undefined && value > 1) {
        const message = `the Kinesis client retries on its own (maxAttempts ${value}); its retries run inside each producer attempt, bounded by requestTimeoutMs. Pass a client with maxAttempts: 1 to leave retrying to the producer.`;
        this.options.logger?.warn(message);
        this.emit('warning', { message });
      }
    });
  }
}
