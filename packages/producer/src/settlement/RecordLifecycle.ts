import type { ClassifiedError } from '../errors.js';
import type { Attempt, PutResult } from '../types.js';
import type { ValidRecord } from '../validation.js';
import { NO_ATTEMPTS, type PendingRecord, retryStateOf } from './PendingRecord.js';
import type { RecordBatch } from './RecordBatch.js';

/**
 * The only place a record's life-cycle state changes: buffered -> sent (once) -> answered, then settled, or
 * back to a buffer after a backoff (`retry`), or parked inside a misrouted aggregate until a fresh shard map
 * judges it. Every stage reads these fields; only these functions write them, so a transition is found in
 * one file. Plain functions rather than a class: they run once per record on the hot path.
 */

/**
 * A record accepted by `put`, `putMany` or `putEach` (read from `valid`): buffered, not sent, not settled,
 * no retry state yet.
 */
export function admitted(
  seq: number,
  valid: ValidRecord,
  now: number,
  ttlMs: number,
  resolve: (result: PutResult) => void,
  reject: (error: Error) => void,
  batch: RecordBatch | undefined,
  slot: number,
): PendingRecord {
  return {
    seq,
    partitionKey: valid.partitionKey,
    explicitHashKey: valid.explicitHashKey,
    data: valid.data,
    bytes: valid.bytes,
    receivedAt: now,
    deadline: now + ttlMs,
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
}

/** First send of a record: true once, so BufferingTime counts each record once however often it is retried. */
export function markSent(record: PendingRecord): boolean {
  if (record.sent) return false;
  record.sent = true;
  return true;
}

/** Stored inside an aggregate Kinesis put on an unpredicted shard: waits for a fresh map (see ShardRouter). */
export function markParked(record: PendingRecord): void {
  record.parked = true;
}

/** A parked record is judged: it is settled or goes back to a buffer next. */
export function markUnparked(record: PendingRecord): void {
  record.parked = false;
}

/** Settles a record exactly once: false when it already was (the caller then does nothing). */
export function markSettled(record: PendingRecord): boolean {
  if (record.settled) return false;
  record.settled = true;
  return true;
}

/**
 * A parked record turned out stored on a shard that does not own it: its last attempt counts as failed
 * (`WrongShard`) and it may be sent again at once.
 */
export function markWrongShard(record: PendingRecord, message: string, now: number): void {
  const last = record.attempts[record.attempts.length - 1];
  if (last !== undefined) {
    last.success = false;
    last.errorCode = 'WrongShard';
    last.errorMessage = message;
  }
  retryStateOf(record).notBefore = now;
}

/** A record must be sent again: not before `notBefore`, having met `error`. Returns its retry count before. */
export function markRetrying(record: PendingRecord, error: ClassifiedError): number {
  const state = retryStateOf(record);
  state.lastError = error;
  const retries = state.retries;
  state.retries += 1;
  return retries;
}

/** The earliest time a retried record may be sent again (set after its backoff is drawn). */
export function holdUntil(record: PendingRecord, time: number): void {
  retryStateOf(record).notBefore = time;
}

/**
 * Records an attempt of a request that started at `startedAt` and took `durationMs`. `settles`: this attempt
 * settles the record, which then needs no retry state (most records: their first attempt settles them and
 * they never allocate one).
 */
export function addAttempt(
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

/** Settled by its first attempt: records put in the same millisecond may share one frozen attempts array. */
export function setFirstAttempts(record: PendingRecord, attempts: Attempt[]): void {
  record.attempts = attempts;
}
