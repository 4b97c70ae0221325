import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { ConfigurationError } from './errors.js';
import type { DeadLetterHandler, Processor } from './processor.js';
import {
  type ResolvedRetrieval,
  type RetrievalOptions,
  resolveRetrieval,
} from './retrieval/RetrievalOptions.js';
import type { InitialPosition, Logger } from './types.js';
import { describe, int } from './validate.js';

/**
 * Retry of records whose processor call threw. Every failed call is followed by a backoff of
 * `backoffDelay(n, baseDelayMs, maxDelayMs)` (full jitter: random in [0, min(maxDelayMs, baseDelayMs * 2^n)]),
 * n = failed calls on the shard since the last call that succeeded, so a record that keeps failing is retried
 * at most every `maxDelayMs`.
 */
export interface ProcessingRetryOptions {
  /**
   * Failed attempts on one record (named by the processor or isolated by halving the batch), the first
   * included, before `deadLetter` / `onProcessingFailure` decide what happens to it. @defaultValue `5`
   */
  maxAttempts?: number | undefined;
  /** Backoff base (full jitter, doubling). @defaultValue `500` */
  baseDelayMs?: number | undefined;
  /** Backoff ceiling: the pace at which a blocked record is retried. @defaultValue `10_000` */
  maxDelayMs?: number | undefined;
}

/**
 * What happens to a record that failed `processingRetry.maxAttempts` times when no `deadLetter` hook is set.
 * - `'retry'`: keep the lease and keep retrying that record every `maxDelayMs` at most (backoff capped),
 *   forever; records after it wait. The shard is reported blocked (`shardBlocked` events, `metrics()`
 *   `shardsBlocked` and the shard's `failingRecord` / `blockedSince`) until the record passes.
 * - `'skip'`: move past that one user record (checkpointed), emitting `recordSkipped`; the records before and
 *   after it are processed as usual.
 *
 * (`'release'`, which gave the lease up so that the same batch failed again on the next owner, was removed.)
 */
export type ProcessingFailurePolicy = 'retry' | 'skip';

/** Options of `new KinesisConsumer(...)`. */
export interface KinesisConsumerOptions {
  /** Your Kinesis client (SDK v3). Not destroyed by `stop()`. */
  kinesisClient: KinesisClient;
  /** Your DynamoDB client (SDK v3), for the lease table. Not destroyed by `stop()`. */
  dynamoDBClient: DynamoDBClient;
  /** The stream by name. Give this or `streamARN`. */
  streamName?: string | undefined;
  /** The stream by ARN. Give this or `streamName`. */
  streamARN?: string | undefined;
  /** Names the lease table (created on demand, PAY_PER_REQUEST). Same rules as a DynamoDB table name. */
  applicationName: string;
  /** A KCL-style object processor, a plain async handler, or a per-shard `{ createProcessor }`; see the README. */
  processor: Processor;
  /** Unique per worker; appears as `leaseOwner`. @defaultValue `` `${hostname()}:${process.pid}:${random}` `` */
  workerId?: string | undefined;
  /** Where shards without a checkpoint start. @defaultValue `'LATEST'` (as the KCL) */
  initialPosition?: InitialPosition | undefined;
  /** A lease whose counter has not moved for this long (by the observer's clock) is expired. @defaultValue `10_000` */
  failoverTimeMs?: number | undefined;
  /**
   * How often held leases are renewed; at most `failoverTimeMs / 2`, so a lease is always renewed well before
   * it expires locally between two renewal rounds. @defaultValue `failoverTimeMs / 3`
   */
  renewIntervalMs?: number | undefined;
  /**
   * How often the small heartbeat table is read to notice dead workers and lease changes (released,
   * transferred, created leases); the lease table is scanned right after such a change.
   * @defaultValue `failoverTimeMs / 10`
   */
  takerIntervalMs?: number | undefined;
  /**
   * The lease table is scanned (eventually consistent) at least this often even when nothing calls for it:
   * it catches leases of workers without a heartbeat record (Java KCL workers) and balances slowly drifting
   * load. @defaultValue `3 * failoverTimeMs`
   */
  leaseScanIntervalMs?: number | undefined;
  /**
   * The heartbeat table beside the lease table: one small item per live worker.
   * @defaultValue `` `${applicationName}-Workers` ``
   */
  workerTableName?: string | undefined;
  /**
   * How often ListShards is compared with the lease table to create missing leases (and, on the same reads,
   * to clean up leases no longer needed). @defaultValue `60_000`
   */
  shardSyncIntervalMs?: number | undefined;
  /**
   * Lease cleanup: at most this many leases deleted per shard sync by this worker; `0` turns cleanup off.
   * Deleted are finished (`SHARD_END`) leases whose children's leases are all checkpointed past their start,
   * and leases of shards Kinesis no longer has. Needs `dynamodb:DeleteItem` on the lease table.
   * @defaultValue `20`
   */
  maxLeaseDeletesPerSync?: number | undefined;
  /** How often a child shard checks whether its parents have reached SHARD_END. @defaultValue `1_000` */
  parentPollIntervalMs?: number | undefined;
  /** Upper bound of leases this worker holds. @defaultValue `Number.MAX_SAFE_INTEGER` (no cap) */
  maxLeasesForWorker?: number | undefined;
  /** Leases asked for (graceful handoff) per taker cycle when rebalancing. @defaultValue `1` */
  maxLeasesToStealAtOnce?: number | undefined;
  /**
   * Graceful handoff: how long the owner of an asked-for lease waits for its batch in flight and
   * `shutdownRequested` before it transfers the lease anyway (the processor then gets `leaseLost`). The worker
   * that asked takes the lease itself if it has not been transferred after this plus `failoverTimeMs`.
   * @defaultValue `30_000` (the KCL 3.x default)
   */
  handoffTimeoutMs?: number | undefined;
  /**
   * How records are read: `{ mode: 'polling' }` (GetRecords, shared 2 MiB/s and 5 calls/s per shard) or
   * `{ mode: 'fan-out', consumerName }` / `{ mode: 'fan-out', consumerArn }` (enhanced fan-out: SubscribeToShard
   * over HTTP/2, 2 MiB/s per shard for this application alone; billed per consumer-shard hour and per GB).
   * Fan-out needs the Kinesis client's default HTTP/2 handler. See {@link RetrievalOptions} and the README.
   * The prefetch bounds (`maxPrefetchBatches`, `maxPrefetchBytes`) apply to both modes.
   * @defaultValue `{ mode: 'polling' }`
   */
  retrieval?: RetrievalOptions | undefined;
  /** GetRecords `Limit` (1..10,000). @defaultValue `10_000` */
  maxRecords?: number | undefined;
  /** Wait between GetRecords calls once a shard is caught up (Kinesis allows 5 calls/s per shard). @defaultValue `1_000` */
  idleTimeBetweenReadsMs?: number | undefined;
  /** GetRecords results buffered per shard ahead of the processor. @defaultValue `3` */
  maxPrefetchBatches?: number | undefined;
  /** Bytes buffered per shard ahead of the processor (one batch may overshoot it). @defaultValue `33_554_432` (32 MiB) */
  maxPrefetchBytes?: number | undefined;
  /** How records whose processor call threw are retried. */
  processingRetry?: ProcessingRetryOptions | undefined;
  /**
   * What happens to a record that failed `processingRetry.maxAttempts` times, when `deadLetter` is not set:
   * `'retry'` keeps the lease and retries it at the capped backoff, reporting the shard blocked; `'skip'`
   * moves past that one user record and emits `recordSkipped`. See {@link ProcessingFailurePolicy}.
   * @defaultValue `'retry'`
   */
  onProcessingFailure?: ProcessingFailurePolicy | undefined;
  /**
   * Called with the records that failed `processingRetry.maxAttempts` times (exactly the failing user
   * record), the processor's last error and `{ shardId, attempts, firstFailedAt }`. When it resolves, the
   * records are checkpointed past and the shard carries on (`recordDeadLettered`); when it throws, it is
   * reported and called again with backoff. Takes precedence over `onProcessingFailure`.
   * @defaultValue `undefined` (no hook)
   */
  deadLetter?: DeadLetterHandler | undefined;
  /** Check the MD5 of KPL aggregates. @defaultValue `true` */
  verifyChecksum?: boolean | undefined;
  /**
   * A user record whose hash key is outside its shard's range (after a reshard, or written by a producer that
   * is not shard-aware, such as `aws-kinesis-agg`, whose aggregates mix partition keys): `'deliver'` hands it
   * to the processor flagged `outOfRange: true`; `'drop'` drops it, one by one (never the whole aggregate).
   * Either way it is counted (`recordsOutOfRange` event and metrics). Delivering never loses data a producer
   * wrote; the cost is a duplicate when a shard-aware producer (the KPL, ours) also re-sent it to the right
   * shard, which at-least-once processing already has to handle.
   * @defaultValue `'deliver'`
   */
  outOfRangeRecords?: 'deliver' | 'drop' | undefined;
  /** Structured logger; never receives payloads. @defaultValue no logging */
  logger?: Logger | undefined;
}

/** Options after defaults and validation. */
export interface ResolvedOptions {
  kinesisClient: KinesisClient;
  dynamoDBClient: DynamoDBClient;
  stream: { StreamName: string } | { StreamARN: string };
  applicationName: string;
  processor: Processor;
  workerId: string;
  initialPosition: InitialPosition;
  failoverTimeMs: number;
  renewIntervalMs: number;
  takerIntervalMs: number;
  leaseScanIntervalMs: number;
  workerTableName: string;
  shardSyncIntervalMs: number;
  maxLeaseDeletesPerSync: number;
  parentPollIntervalMs: number;
  maxLeasesForWorker: number;
  maxLeasesToStealAtOnce: number;
  handoffTimeoutMs: number;
  retrieval: ResolvedRetrieval;
  maxRecords: number;
  idleTimeBetweenReadsMs: number;
  maxPrefetchBatches: number;
  maxPrefetchBytes: number;
  processingRetry: Required<ProcessingRetryOptions>;
  onProcessingFailure: ProcessingFailurePolicy;
  deadLetter: DeadLetterHandler | undefined;
  verifyChecksum: boolean;
  outOfRangeRecords: 'deliver' | 'drop';
  logger: Logger;
}

const TABLE_NAME = /^[a-zA-Z0-9_.-]{3,255}$/;

/** Applies defaults and validates; throws `ConfigurationError` naming the first bad option. */
export function resolveOptions(options: KinesisConsumerOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null)
    throw new ConfigurationError(`options must be an object (got ${describe(options)})`);
  if (!options.kinesisClient || typeof options.kinesisClient.send !== 'function') {
    throw new ConfigurationError('kinesisClient must be an SDK v3 KinesisClient');
  }
  if (!options.dynamoDBClient || typeof options.dynamoDBClient.send !== 'function') {
    throw new ConfigurationError('dynamoDBClient must be an SDK v3 DynamoDBClient');
  }
  const hasName = typeof options.streamName === 'string' && options.streamName.length > 0;
  const hasArn = typeof options.streamARN === 'string' && options.streamARN.length > 0;
  if (hasName === hasArn)
    throw new ConfigurationError(
      `give exactly one of streamName and streamARN (got streamName ${describe(options.streamName)}, streamARN ${describe(options.streamARN)})`,
    );
  if (typeof options.applicationName !== 'string' || !TABLE_NAME.test(options.applicationName)) {
    throw new ConfigurationError(
      `applicationName must be 3-255 characters of a-z, A-Z, 0-9, _ . - (got ${describe(options.applicationName)})`,
    );
  }
  const processor = options.processor;
  const isObject = typeof processor === 'object' && processor !== null;
  const isFactory =
    isObject && 'createProcessor' in processor && typeof processor.createProcessor === 'function';
  const isRecordProcessor =
    isObject &&
    'processRecords' in processor &&
    typeof processor.processRecords === 'function' &&
    typeof processor.shardEnded === 'function';
  if (typeof processor !== 'function' && !isFactory && !isRecordProcessor) {
    throw new ConfigurationError(
      'processor must be a function, an object with processRecords and shardEnded, or { createProcessor(shardId) }',
    );
  }
  const workerId = options.workerId ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  if (typeof workerId !== 'string' || workerId.length === 0 || workerId.length > 1024) {
    throw new ConfigurationError(
      `workerId must be a non-empty string of at most 1,024 characters (got ${describe(workerId)})`,
    );
  }
  const initialPosition = options.initialPosition ?? 'LATEST';
  if (
    initialPosition !== 'LATEST' &&
    initialPosition !== 'TRIM_HORIZON' &&
    !(
      typeof initialPosition === 'object' &&
      initialPosition.timestamp instanceof Date &&
      !Number.isNaN(initialPosition.timestamp.getTime())
    )
  ) {
    throw new ConfigurationError(
      `initialPosition must be 'LATEST', 'TRIM_HORIZON' or { timestamp: Date } (got ${describe(initialPosition)})`,
    );
  }
  const failoverTimeMs = int('failoverTimeMs', options.failoverTimeMs, 10_000, 100, 86_400_000);
  const renewIntervalMs = int(
    'renewIntervalMs',
    options.renewIntervalMs,
    Math.floor(failoverTimeMs / 3),
    10,
    Math.floor(failoverTimeMs / 2),
  );
  const workerTableName = options.workerTableName ?? `${options.applicationName}-Workers`;
  if (typeof workerTableName !== 'string' || !TABLE_NAME.test(workerTableName)) {
    throw new ConfigurationError(
      `workerTableName must be 3-255 characters of a-z, A-Z, 0-9, _ . - (got ${JSON.stringify(workerTableName)}); set it when applicationName is longer than 247 characters`,
    );
  }
  const outOfRangeRecords = options.outOfRangeRecords ?? 'deliver';
  if (outOfRangeRecords !== 'deliver' && outOfRangeRecords !== 'drop') {
    throw new ConfigurationError(
      `outOfRangeRecords must be 'deliver' or 'drop' (got ${JSON.stringify(outOfRangeRecords)})`,
    );
  }
  const retry = options.processingRetry ?? {};
  const onProcessingFailure = options.onProcessingFailure ?? 'retry';
  if ((onProcessingFailure as string) === 'release') {
    throw new ConfigurationError(
      "onProcessingFailure 'release' was removed (it moved a failing shard from worker to worker without end): use 'retry' (the default), 'skip' or a deadLetter hook",
    );
  }
  if (onProcessingFailure !== 'retry' && onProcessingFailure !== 'skip') {
    throw new ConfigurationError(
      `onProcessingFailure must be 'retry' or 'skip' (got ${describe(onProcessingFailure)})`,
    );
  }
  if (options.deadLetter !== undefined && typeof options.deadLetter !== 'function') {
    throw new ConfigurationError(
      `deadLetter must be a function (records, error, context) => Promise<void> (got ${describe(options.deadLetter)})`,
    );
  }
  return {
    kinesisClient: options.kinesisClient,
    dynamoDBClient: options.dynamoDBClient,
    stream: hasArn
      ? { StreamARN: options.streamARN as string }
      : { StreamName: options.streamName as string },
    applicationName: options.applicationName,
    processor,
    workerId,
    initialPosition,
    failoverTimeMs,
    renewIntervalMs,
    takerIntervalMs: int(
      'takerIntervalMs',
      options.takerIntervalMs,
      Math.max(10, Math.floor(failoverTimeMs / 10)),
      10,
      3_600_000,
    ),
    leaseScanIntervalMs: int(
      'leaseScanIntervalMs',
      options.leaseScanIntervalMs,
      Math.min(3 * failoverTimeMs, 3_600_000),
      10,
      3_600_000,
    ),
    workerTableName,
    shardSyncIntervalMs: int('shardSyncIntervalMs', options.shardSyncIntervalMs, 60_000, 100, 86_400_000),
    maxLeaseDeletesPerSync: int('maxLeaseDeletesPerSync', options.maxLeaseDeletesPerSync, 20, 0, 1_000),
    parentPollIntervalMs: int('parentPollIntervalMs', options.parentPollIntervalMs, 1_000, 10, 600_000),
    maxLeasesForWorker: int(
      'maxLeasesForWorker',
      options.maxLeasesForWorker,
      Number.MAX_SAFE_INTEGER,
      1,
      Number.MAX_SAFE_INTEGER,
    ),
    maxLeasesToStealAtOnce: int('maxLeasesToStealAtOnce', options.maxLeasesToStealAtOnce, 1, 0, 10_000),
    handoffTimeoutMs: int('handoffTimeoutMs', options.handoffTimeoutMs, 30_000, 0, 3_600_000),
    retrieval: resolveRetrieval(options.retrieval, options.kinesisClient),
    maxRecords: int('maxRecords', options.maxRecords, 10_000, 1, 10_000),
    idleTimeBetweenReadsMs: int('idleTimeBetweenReadsMs', options.idleTimeBetweenReadsMs, 1_000, 0, 600_000),
    maxPrefetchBatches: int('maxPrefetchBatches', options.maxPrefetchBatches, 3, 1, 100),
    maxPrefetchBytes: int('maxPrefetchBytes', options.maxPrefetchBytes, 33_554_432, 1, 2 ** 31),
    processingRetry: {
      maxAttempts: int('processingRetry.maxAttempts', retry.maxAttempts, 5, 1, 1_000),
      baseDelayMs: int('processingRetry.baseDelayMs', retry.baseDelayMs, 500, 0, 600_000),
      maxDelayMs: int('processingRetry.maxDelayMs', retry.maxDelayMs, 10_000, 0, 3_600_000),
    },
    onProcessingFailure,
    deadLetter: options.deadLetter,
    verifyChecksum: options.verifyChecksum ?? true,
    outOfRangeRecords,
    logger: options.logger ?? {},
  };
}
