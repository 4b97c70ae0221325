import type { ClassifiedError } from './errors.js';
import type { Attempt, PutResult } from './types.js';

/** A user record between `put` and settlement. Internal. */
export interface PendingRecord {
  /** Put order; retries keep it, so buffers can restore put order. */
  readonly seq: number;
  readonly partitionKey: string;
  readonly explicitHashKey: string | undefined;
  readonly data: Uint8Array;
  /** Data plus UTF-8 partition key: what Kinesis counts. */
  readonly bytes: number;
  readonly hashKey: bigint;
  /** When `put` accepted it (ms, `Date.now()`). */
  readonly receivedAt: number;
  /** `receivedAt + recordTtlMs`. */
  readonly deadline: number;
  /** Not to be sent before this time (backoff after a failed attempt). */
  notBefore: number;
  /** When its last attempt ended (or `receivedAt`), to report each attempt's delay. */
  lastAttemptEnd: number;
  /** Failed attempts so far: the exponent of its backoff. */
  retries: number;
  readonly attempts: Attempt[];
  /** The last error met, reported as the cause when it expires. */
  lastError: ClassifiedError | undefined;
  /** Whether the first send has happened (for BufferingTime). */
  sent: boolean;
  /** Stored inside a misrouted aggregate, waiting for a fresh shard map to check its shard. */
  parked: boolean;
  settled: boolean;
  readonly resolve: (result: PutResult) => void;
  readonly reject: (error: Error) => void;
}
