import {
  type ClassifiedError,
  ConfigurationError,
  ExpiredError,
  type ProducerError,
  ServiceError,
  withLastError,
} from '../errors.js';
import type { ProducerEvents } from '../events.js';
import type { MetricsRecorder } from '../metrics.js';
import type { FlushResult, PutResult } from '../types.js';
import { attemptsOf, type PendingRecord } from './PendingRecord.js';
import { markSettled } from './RecordLifecycle.js';
import { CapacityWaiters, FlushWaiters } from './Waiters.js';

/** Settings of a `Settlement`. */
export interface SettlementOptions {
  maxBufferedRecords: number;
  maxBufferedBytes: number;
  recordTtlMs: number;
}

/** What settling records tells the producer. */
export interface SettlementHost {
  /** Room again after `put` was refused (the `drain` event). */
  drained(): void;
  /** Puts rejected after being accepted (the `recordsFailed` event). */
  recordsFailed(payload: ProducerEvents['recordsFailed'][0]): void;
  /** Nothing is pending any more: timers can stop. */
  idle(): void;
}

/**
 * The records put and not yet settled: their count and bytes (the backpressure bounds), the settlement of
 * each put's promise exactly once (result or typed error), and everyone waiting on settlements: `flush()`
 * callers, capacity waiters and the `drain` event.
 */
export class Settlement {
  /** Records put and not yet settled. */
  count = 0;
  /** Their bytes (data plus partition keys). */
  bytes = 0;
  /** Put order of the next record. */
  nextSeq = 0;
  private refusedSinceDrain = false;
  private readonly flushWaiters = new FlushWaiters();
  private readonly capacityWaiters = new CapacityWaiters();
  private readonly hasCapacityFn = (bytes: number): boolean => this.hasCapacity(bytes);

  constructor(
    private readonly options: SettlementOptions,
    private readonly recorder: MetricsRecorder,
    private readonly host: SettlementHost,
  ) {}

  /** Whether a record of `bytes` bytes fits within the bounds now. */
  hasCapacity(bytes: number): boolean {
    return (
      this.count < this.options.maxBufferedRecords &&
      (this.count === 0 || this.bytes + bytes <= this.options.maxBufferedBytes)
    );
  }

  /** `put` was refused for lack of room: `drain` is emitted once there is room again. */
  refused(): void {
    this.refusedSinceDrain = true;
  }

  /** Counts a record as pending. */
  admit(record: PendingRecord): void {
    this.count += 1;
    this.bytes += record.bytes;
    this.recorder.userRecordsReceived += 1;
  }

  /** Waits until a record of `bytes` bytes fits. */
  waitForCapacity(bytes: number, signal: AbortSignal | undefined): Promise<void> {
    return this.capacityWaiters.wait(bytes, signal);
  }

  /** Wakes every capacity waiter (on close: their puts will be refused). */
  releaseWaiters(): void {
    this.capacityWaiters.releaseAll();
  }

  /** Resolves when every record with a sequence up to `upTo` (all pending ones now) has settled. */
  flushed(upTo: number): Promise<FlushResult> {
    return this.flushWaiters.add(upTo, this.count);
  }

  succeed(
    record: PendingRecord,
    shardId: string,
    sequenceNumber: string,
    subSequenceNumber: number | undefined,
  ): void {
    if (record.settled) return;
    const recorder = this.recorder;
    recorder.userRecordsPut += 1;
    recorder.userRecordsDataPut += record.bytes;
    // One object shape for every result (hot path: one per record).
    const result: PutResult = { shardId, sequenceNumber, subSequenceNumber, attempts: attemptsOf(record) };
    // Settled before flush waiters hear of it, so `await flush()` resumes after the put's own callbacks.
    if (record.batch === undefined) record.resolve(result);
    else record.batch.succeed(record.slot, result);
    this.settle(record, true);
  }

  /**
   * Fails a record at its TTL. `cause` and the message carry the last error it met: its own last attempt's,
   * else `unsent` (why it could not be sent at all, e.g. the shard map's last failure).
   */
  expire(record: PendingRecord, unsent?: ClassifiedError): void {
    if (record.settled) return;
    this.recorder.userRecordExpired += 1;
    this.recorder.error('Expired');
    const last = record.retry?.lastError ?? unsent;
    rejectRecord(
      record,
      new ExpiredError(
        withLastError(`record not stored within recordTtlMs (${this.options.recordTtlMs} ms)`, last),
        attemptsOf(record),
        last === undefined
          ? undefined
          : (last.cause ?? new ServiceError(last.code, last.message, { retriable: last.retriable })),
      ),
    );
    this.settle(record, false);
    this.host.recordsFailed({ code: 'EXPIRED', userRecords: 1 });
  }

  /** Fails one record with an error of the producer's own (a record found invalid after `put`). */
  fail(record: PendingRecord, error: ProducerError): void {
    if (!this.settle(record, false)) return;
    rejectRecord(record, error);
    this.host.recordsFailed({ code: error.code, userRecords: 1 });
  }

  /**
   * Fails records with a classified error: `ConfigurationError` for a configuration problem (no credentials,
   * no region, a protocol mismatch), else `ServiceError`.
   */
  failAll(records: PendingRecord[], error: ClassifiedError, cause: unknown): void {
    let count = 0;
    for (const record of records) {
      if (!this.settle(record, false)) continue;
      count += 1;
      const attempts = attemptsOf(record);
      rejectRecord(
        record,
        error.configuration === true
          ? new ConfigurationError(`${error.code}: ${error.message}`, {
              problem: error.code,
              cause,
              attempts,
            })
          : new ServiceError(error.code, error.message, { retriable: error.retriable, cause, attempts }),
      );
    }
    if (count > 0) {
      const code = error.configuration === true ? 'CONFIGURATION' : 'SERVICE_ERROR';
      this.host.recordsFailed({ code, serviceCode: error.code, userRecords: count });
    }
  }

  /** Marks a record settled exactly once and updates everything waiting on it; false if it already was. */
  private settle(record: PendingRecord, success: boolean): boolean {
    if (!markSettled(record)) return false;
    this.count -= 1;
    this.bytes -= record.bytes;
    if (!success) this.recorder.userRecordsFailed += 1;
    // Every attempt but a final success failed.
    this.recorder.retriesPerRecord.add(record.attempts.length - (success ? 1 : 0));
    this.flushWaiters.settled(record.seq, success);
    this.capacityWaiters.wake(this.hasCapacityFn);
    if (this.refusedSinceDrain && this.hasCapacity(0)) {
      this.refusedSinceDrain = false;
      this.host.drained();
    }
    if (this.count === 0) this.host.idle();
    return true;
  }
}

/** Hands a record's error to its `put` promise or to its batch. */
function rejectRecord(record: PendingRecord, error: ProducerError): void {
  if (record.batch === undefined) record.reject(error);
  else record.batch.fail(record.slot, error);
}
