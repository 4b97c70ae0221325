import { EventEmitter } from 'node:events';

/** The events a `KinesisProducer` emits, with their payloads. None carries record data. */
export interface ProducerEvents {
  /** A PutRecords call answered (possibly with failed entries). */
  request: [{ entries: number; userRecords: number; failedEntries: number; durationMs: number }];
  /** A PutRecords call failed whole (HTTP error, timeout, reset) after its retries. */
  requestFailed: [{ errorCode: string; retriable: boolean; entries: number; userRecords: number }];
  /** Records go back to their shard buffer to be retried after a backoff. */
  retry: [{ shardId: string; errorCode: string; userRecords: number }];
  /** A shard answered `ProvisionedThroughputExceededException`; its rate limit went down to `rateLimit`. */
  throttled: [{ shardId: string; rateLimit: number }];
  /** Records failed (their `put` rejected), with the error code. */
  recordsFailed: [{ code: string; serviceCode?: string | undefined; userRecords: number }];
  /** A new shard map was loaded. `reason`: `initial` or `wrongShard` (a reshard was detected). */
  shardMapRefreshed: [{ reason: 'initial' | 'wrongShard'; shards: number }];
  /** A shard map load failed; records waiting for it stay buffered until their TTL. */
  shardMapRefreshFailed: [{ errorCode: string; retriable: boolean }];
  /** Buffer space was freed after `put` had been refused or `waitForCapacity` had to wait. */
  drain: [];
  /** Something the operator should know (for example an SDK client that retries on its own). */
  warning: [{ message: string }];
}

/** A typed `EventEmitter` for `ProducerEvents`. */
export class ProducerEventEmitter extends EventEmitter<ProducerEvents> {}
