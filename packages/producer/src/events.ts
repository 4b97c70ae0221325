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
  /**
   * A new shard map was loaded. `reason`: `initial`, `wrongShard` (a reshard was detected), `periodic` (the
   * map reached `shardMapRefreshIntervalMs` while records flowed) or `stale` (records waited for it: nothing
   * had confirmed the map for that long, e.g. after an idle period).
   */
  shardMapRefreshed: [{ reason: 'initial' | 'wrongShard' | 'periodic' | 'stale'; shards: number }];
  /**
   * A try of a shard map listing failed, reported at once (not when its retries give up). Retriable
   * failures are tried again with backoff while records wait (up to their TTL); a non-retriable one fails
   * the records waiting for a map, with `ConfigurationError` when `configuration` (no credentials, no region,
   * an endpoint that does not speak the client's protocol).
   */
  shardMapRefreshFailed: [{ errorCode: string; retriable: boolean; message: string; configuration: boolean }];
  /** Buffer space was freed after `put` had been refused or `waitForCapacity` had to wait. */
  drain: [];
  /** Something the operator should know (for example an SDK client that retries on its own). */
  warning: [{ message: string }];
}

/** A typed `EventEmitter` for `ProducerEvents`. */
export class ProducerEventEmitter extends EventEmitter<ProducerEvents> {}
