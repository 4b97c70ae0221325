import type { KinesisClient, KinesisClientConfig } from '@aws-sdk/client-kinesis';
import type { SubscriptionFaultPlan } from '../faults/subscriptions.js';
import type { FanOutOptions } from './ConsumerRegistry.js';
import type { AcceptedEntry, EntryLogOptions } from './EntryLog.js';
import type { FanOutStats, SubscriptionInfo } from './fanout/SubscriptionHub.js';
import type { RequestLimits } from './operations.js';
import type { ReadLimits } from './ReadThrottle.js';
import type { ShardLimits } from './ShardWindow.js';

/** Options for {@link startKinesisSimulator}. */
export interface KinesisSimulatorOptions {
  /** Streams that exist from the start. @defaultValue `[]` */
  streams?: ReadonlyArray<{
    streamName: string;
    shardCount: number;
    /** The stream's maximum record size (as UpdateMaxRecordSize sets it), 1,024 to 10,240. */
    maxRecordSizeInKiB?: number;
  }>;
  /**
   * Per-shard write limits over a sliding window, or `false` for none (CPU benchmarks).
   * @defaultValue `{ recordsPerSecond: 1_000, bytesPerSecond: 1_048_576, windowMs: 1_000 }`
   */
  shardLimits?: ShardLimits | false;
  /**
   * Per-shard GetRecords limits (shared by every polling reader of a shard), answered with
   * `ProvisionedThroughputExceededException`, or `false` for none. Measured on `now`.
   * @defaultValue `{ callsPerSecond: 5, bytesPerSecond: 2_097_152 }`
   */
  readLimits?: ReadLimits | false;
  /**
   * Bytes (data + partition key) of records each shard keeps readable, 1 KiB to 4 GiB, or 0 to keep none
   * (write-only benchmarks: storing costs about 3 µs of CPU and 260 bytes of memory per 100-byte record, measured).
   * Beyond it the oldest are trimmed, as retention would expire them (counted in `stats().trimmedRecords`).
   * This bounds the simulator's memory; raise it for catch-up benchmarks.
   * @defaultValue `33_554_432` (32 MiB)
   */
  retainedBytesPerShard?: number;
  /**
   * How long a shard iterator stays valid, in ms on the `now` clock (1 to 3,600,000): GetRecords with an
   * older one gets `ExpiredIteratorException`. @defaultValue `300_000` (the service's 5 minutes)
   */
  iteratorLifetimeMs?: number;
  /**
   * Enhanced fan-out: consumer registration (RegisterStreamConsumer, DescribeStreamConsumer,
   * ListStreamConsumers, DeregisterStreamConsumer) and SubscribeToShard over HTTP/2.
   * @defaultValue see {@link FanOutOptions}; the service's limits, consumers ACTIVE after 300 ms
   */
  fanOut?: FanOutOptions;
  /** Faults injected into SubscribeToShard subscriptions (see `setSubscriptionFaults`). @defaultValue none */
  subscriptionFaults?: SubscriptionFaultPlan;
  /**
   * PutRecords / PutRecord request limits (always enforced). A stream whose maximum record size is above
   * 1 MiB takes requests of up to 10 MiB. @defaultValue the service's: 500, 5 MiB, 1 MiB
   */
  requestLimits?: RequestLimits;
  /** What to remember of accepted entries. @defaultValue every entry with its data, up to 200,000 */
  log?: EntryLogOptions;
  /** Region put into ARNs and clients. @defaultValue `'us-east-1'` */
  region?: string;
  /** Account id put into ARNs and messages. @defaultValue `'000000000000'` */
  account?: string;
  /**
   * Clock (ms) of the sliding windows, read limits and iterator lifetimes; tests may pass a fake one.
   * Arrival timestamps and MillisBehindLatest use the wall clock (`Date.now`). @defaultValue `performance.now`
   */
  now?: () => number;
  /** Largest request body accepted; larger ones get a 413 and the connection closes. @defaultValue `16_777_216` */
  maxBodyBytes?: number;
}

/** A snapshot of one simulated shard. */
export interface SimulatedShardInfo {
  shardId: string;
  parentShardId: string | undefined;
  adjacentParentShardId: string | undefined;
  startingHashKey: bigint;
  endingHashKey: bigint;
  open: boolean;
  accepted: number;
  throttled: number;
  bytes: number;
}

/** Counters of a simulator since start (or the last `clearLog`, for the log only). */
export interface SimulatorStats {
  /** HTTP requests by operation name (unknown ones as `'Unknown'`). */
  requests: Record<string, number>;
  /** PutRecord(s) entries that passed validation. */
  entries: number;
  accepted: number;
  /** Data + partition key bytes accepted. */
  acceptedBytes: number;
  /** Entries refused with ProvisionedThroughputExceededException. */
  throttled: number;
  /** Requests answered with a 4xx/5xx error (validation, not found, throttled reads, ...). */
  rejectedRequests: number;
  /** Accepted entries that did not fit the log. */
  droppedFromLog: number;
  /** GetRecords calls refused with ProvisionedThroughputExceededException. */
  readThrottled: number;
  /** Records and bytes (data + partition key) returned by GetRecords. */
  readRecords: number;
  readBytes: number;
  /** Records no longer readable because a shard went over `retainedBytesPerShard`. */
  trimmedRecords: number;
}

/** A running simulator. */
export interface KinesisSimulator {
  /** `http://127.0.0.1:<port>`, serving HTTP/1.1 and HTTP/2 cleartext (prior knowledge) on the same port. */
  readonly endpoint: string;
  readonly region: string;
  /** A KinesisClient for this simulator (HTTP/1.1, dummy credentials); destroyed by `stop()`. */
  createClient(config?: Partial<KinesisClientConfig>): KinesisClient;
  /**
   * A KinesisClient with the SDK's default HTTP/2 handler (`NodeHttp2Handler`, as a production client
   * has), dummy credentials; what SubscribeToShard needs. Destroyed by `stop()`.
   */
  createHttp2Client(config?: Partial<KinesisClientConfig>): KinesisClient;
  /** Replaces the subscription fault plan (counters start again); validated here. */
  setSubscriptionFaults(plan: SubscriptionFaultPlan): void;
  /** Subscriptions each fault rule matched and faulted, by rule name. */
  subscriptionFaultCounters(): Record<string, { matched: number; fired: number }>;
  /** The open SubscribeToShard subscriptions. */
  subscriptions(): SubscriptionInfo[];
  /** SubscribeToShard counters since start. */
  fanOutStats(): FanOutStats;
  /** Creates a stream; `maxRecordSizeInKiB` (1,024 to 10,240) as UpdateMaxRecordSize would set it. */
  createStream(streamName: string, shardCount: number, options?: { maxRecordSizeInKiB?: number }): void;
  /** Changes a stream's maximum record size, as UpdateMaxRecordSize does (1,024 to 10,240 KiB). */
  updateMaxRecordSize(streamName: string, maxRecordSizeInKiB: number): void;
  /** Splits an open shard (at the middle of its range by default); returns the children's ids. */
  splitShard(streamName: string, shardId: string, newStartingHashKey?: bigint | string): [string, string];
  /** Merges two adjacent open shards; returns the child's id. */
  mergeShards(streamName: string, shardId: string, adjacentShardId: string): string;
  /** Every shard of a stream, open and closed, in creation order. */
  shards(streamName: string): SimulatedShardInfo[];
  /** Accepted entries in acceptance order (empty in `'counts'` mode). */
  accepted(): readonly AcceptedEntry[];
  /** Empties the entry log (counters stay). */
  clearLog(): void;
  stats(): SimulatorStats;
  /** Closes the server and the clients it made. Safe to call twice. */
  stop(): Promise<void>;
}
