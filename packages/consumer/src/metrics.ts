import type { ShardConsumerState } from './types.js';

/** Per-shard figures in a {@link MetricsSnapshot}. */
export interface ShardMetrics {
  shardId: string;
  state: ShardConsumerState;
  /** From the latest GetRecords response; `undefined` before the first one. */
  millisBehindLatest: number | undefined;
  recordsProcessed: number;
  bytesProcessed: number;
  lastCheckpoint: string;
}

/** A point-in-time copy of the worker's counters (counters only grow). */
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
  /** Leases this worker deleted from the table (lease cleanup). */
  leasesDeleted: number;
  processingErrors: number;
  recordsFilteredOutOfRange: number;
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
  leasesDeleted = 0;
  processingErrors = 0;
  recordsFilteredOutOfRange = 0;
  getRecordsThrottles = 0;
}
