import type { ShardConsumerState } from './lifecycle/ConsumerStates.js';

/** Per-shard figures in a {@link MetricsSnapshot}. */
export interface ShardMetrics {
  /** The Kinesis shard id. */
  shardId: string;
  /** Its lease's key: the shard id, or `accountId:streamName:creationEpoch:shardId` (multi-stream). */
  leaseKey: string;
  /** The shard's stream. */
  streamName?: string | undefined;
  state: ShardConsumerState;
  /** From the latest GetRecords response or fan-out event (idle ones too); `undefined` before the first one. */
  millisBehindLatest: number | undefined;
  recordsProcessed: number;
  /** User records outside this shard's hash range seen by this worker (delivered or dropped). */
  recordsOutOfRange: number;
  bytesProcessed: number;
  lastCheckpoint: string;
  /**
   * The oldest record of this shard not yet done, while the processor keeps failing on it (named by the
   * processor or isolated by halving the batch): its position, failed attempts and the time of its first
   * failure (epoch ms). `undefined` when nothing is failing.
   */
  failingRecord: FailingRecord | undefined;
  /**
   * Set (to `failingRecord.failingSince`, epoch ms) while the shard is blocked: its failing record reached
   * `processingRetry.maxAttempts` and is being retried, or the `deadLetter` hook is failing for it.
   */
  blockedSince: number | undefined;
}

/** See {@link ShardMetrics.failingRecord}. */
export interface FailingRecord {
  sequenceNumber: string;
  subSequenceNumber: number;
  attempts: number;
  /** Epoch ms of the record's first failure. */
  failingSince: number;
}

/** A point-in-time copy of the worker's counters (counters only grow; `shardsBlocked` is a current count). */
export interface MetricsSnapshot {
  workerId: string;
  leasesHeld: number;
  shards: ShardMetrics[];
  /** User records handed to the processor in batches that completed. */
  recordsProcessed: number;
  bytesProcessed: number;
  checkpoints: number;
  leaseRenewals: number;
  leasesTaken: number;
  leasesStolen: number;
  leasesLost: number;
  leasesReleased: number;
  /** Handoffs this worker asked for (to balance) and the table accepted. */
  handoffsRequested: number;
  /** Leases this worker transferred to a worker that asked for them, after checkpointing. */
  leasesHandedOff: number;
  /** Leases this worker started handing over to balance throughput (moves of the shared plan it made). */
  balanceMoves: number;
  /** Leases this worker deleted from the table (lease cleanup). */
  leasesDeleted: number;
  processingErrors: number;
  /** User records the `deadLetter` hook accepted. */
  recordsDeadLettered: number;
  /** User records moved past with `onProcessingFailure: 'skip'`. */
  recordsSkipped: number;
  /** Shards of this worker blocked right now (see {@link ShardMetrics.blockedSince}); not a counter. */
  shardsBlocked: number;
  /** User records outside their shard's hash range, delivered (flagged `outOfRange`) or dropped. */
  recordsOutOfRangeDelivered: number;
  recordsOutOfRangeDropped: number;
  getRecordsThrottles: number;
  /** Write requests sent to the lease table (renewals, takes, checkpoints, creates, evicts, deletes). */
  leaseTableWrites: number;
  leaseTableReads: number;
  /**
   * Capacity units the lease and heartbeat tables reported (`ReturnConsumedCapacity`) for this worker's calls;
   * writes whose condition failed are not included (DynamoDB charges them too).
   */
  leaseTableReadUnits: number;
  leaseTableWriteUnits: number;
  /** Workers this one sees alive by their heartbeats, itself included. */
  liveWorkers: number;
}

/** Mutable counters behind {@link MetricsSnapshot}. */
export class Counters {
  recordsProcessed = 0;
  bytesProcessed = 0;
  checkpoints = 0;
  leaseRenewals = 0;
  leasesTaken = 0;
  leasesStolen = 0;
  leasesLost = 0;
  leasesReleased = 0;
  handoffsRequested = 0;
  leasesHandedOff = 0;
  balanceMoves = 0;
  leasesDeleted = 0;
  processingErrors = 0;
  recordsDeadLettered = 0;
  recordsSkipped = 0;
  /** A gauge: incremented when a shard becomes blocked, decremented when it is unblocked. */
  shardsBlocked = 0;
  recordsOutOfRangeDelivered = 0;
  recordsOutOfRangeDropped = 0;
  getRecordsThrottles = 0;
}
