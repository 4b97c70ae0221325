import type { ClassifiedError } from '../errors.js';
import type { Attempt, PutResult } from '../types.js';
import type { RecordBatch } from './RecordBatch.js';

/**
 * A user record between `put` and settlement. Internal. Kept small (it lives from `put` to the answer, which
 * makes it the bulk of what the garbage collector copies): the hash key is recomputed on the rare re-route
 * instead of being held, and what only retries need lives in a `RetryState` allocated on the first attempt
 * that leaves the record unsettled (times are boxed numbers: each field of them costs a heap object too).
 */
export interface PendingRecord {
  /** Put order; retries keep it, so buffers can restore put order. */
  readonly seq: number;
  readonly partitionKey: string;
  readonly explicitHashKey: string | undefined;
  readonly data: Uint8Array;
  /** Data plus UTF-8 partition key: what Kinesis counts. */
  readonly bytes: number;
  /** When `put` accepted it (ms, `Date.now()`). */
  readonly receivedAt: number;
  /** `receivedAt + recordTtlMs`. */
  readonly deadline: number;
  /** Backoff and last attempt; undefined until an attempt leaves the record unsettled (most never do). */
  retry: RetryState | undefined;
  /** Every attempt so far, oldest first (a shared empty array until the first one). */
  attempts: Attempt[];
  /** Whether the first send has happened (for BufferingTime). */
  sent: boolean;
  /** Stored inside a misrouted aggregate, waiting for a fresh shard map to check its shard. */
  parked: boolean;
  settled: boolean;
  /** Settle a `put`'s promise (no-ops for a record of a batch). */
  readonly resolve: (result: PutResult) => void;
  readonly reject: (error: Error) => void;
  /** The `putMany`/`putEach` call the record belongs to, which settles it at `slot`; undefined for `put`. */
  readonly batch: RecordBatch | undefined;
  /** The record's index in its batch (0 for `put`). */
  readonly slot: number;
}

/** What a record needs once an attempt did not settle it. */
export interface RetryState {
  /** Not to be sent before this time (backoff after a failed attempt). */
  notBefore: number;
  /** When its last attempt ended, to report the next attempt's delay. */
  lastAttemptEnd: number;
  /** Failed attempts so far: the exponent of its backoff. */
  retries: number;
  /** The last error met, reported as the cause when it expires. */
  lastError: ClassifiedError | undefined;
}

/** The record's retry state, allocated on first use. */
export function retryStateOf(record: PendingRecord): RetryState {
  if (record.retry === undefined) {
    record.retry = { notBefore: 0, lastAttemptEnd: 0, retries: 0, lastError: undefined };
  }
  return record.retry;
}

/** Not to be sent before this time (0: at once). */
export function notBefore(record: PendingRecord): number {
  return record.retry === undefined ? 0 : record.retry.notBefore;
}

/** The attempts of a record not sent yet: shared and never written to (the first attempt replaces it). */
export const NO_ATTEMPTS: Attempt[] = [];

/** A record's attempts to hand to the caller (never the shared empty array). */
export function attemptsOf(record: PendingRecord): Attempt[] {
  return record.attempts === NO_ATTEMPTS ? [] : record.attempts;
}
