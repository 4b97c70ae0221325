/**
 * One row of the lease table, in the KCL 2.x vocabulary plus the KCL 3.x additions. Leases know nothing of records: `checkpoint` is an
 * opaque string (a sequence number or a sentinel such as `SHARD_END`).
 */
export interface Lease {
  /** The shard id (the table's hash key). */
  readonly leaseKey: string;
  /** Worker id of the owner; undefined when nobody owns the lease. */
  readonly leaseOwner: string | undefined;
  /**
   * During a graceful handoff (KCL 3.x `checkpointOwner`): the previous owner, which may still renew and
   * checkpoint until it transfers the lease to `leaseOwner` (the worker that asked for it). Otherwise
   * `undefined`.
   */
  readonly checkpointOwner: string | undefined;
  /** Optimistic-concurrency token, bumped by every renew, take, checkpoint and evict. */
  readonly leaseCounter: number;
  readonly checkpoint: string;
  readonly checkpointSubSequenceNumber: number;
  readonly ownerSwitchesSinceCheckpoint: number;
  /** Parent shard ids (`parentShardId`, a string set). Empty for a shard without parents. */
  readonly parentShardIds: readonly string[];
  /** Child shard ids (`childShardIds`), written when the shard ends. */
  readonly childShardIds: readonly string[];
  /** Decimal hash range of the shard, when known. */
  readonly startingHashKey: string | undefined;
  readonly endingHashKey: string | undefined;
  /**
   * KCL 3.x `throughputKBps`: the owner's exponential moving average (alpha 0.5) of the KiB per second of
   * record data it processed on this shard, written with each renewal. `undefined` until an owner measured it.
   */
  readonly throughputKBps?: number | undefined;
  /**
   * Multi-stream tables only (KCL `MultiStreamLease`): the stream identifier `accountId:streamName:creationEpoch`
   * (attribute `streamName`) and the plain shard id (attribute `shardId`). See `leaseKeys.ts`.
   */
  readonly streamName?: string | undefined;
  readonly shardId?: string | undefined;
}

/** What is needed to create a lease; counters start at 0 and the lease starts unowned. */
export interface NewLease {
  leaseKey: string;
  checkpoint: string;
  checkpointSubSequenceNumber?: number;
  parentShardIds?: readonly string[];
  startingHashKey?: string;
  endingHashKey?: string;
  /** Multi-stream tables: the `streamName` (stream identifier) and `shardId` attributes. */
  streamName?: string;
  shardId?: string;
}

export const SHARD_END = 'SHARD_END';

/** The worker that processes the lease now: the previous owner during a handoff, else the owner. */
export function actualOwner(lease: Lease): string | undefined {
  return lease.checkpointOwner ?? lease.leaseOwner;
}

/** Whether the shard behind this lease has been read to the end and checkpointed there. */
export function isFinished(lease: Lease): boolean {
  return lease.checkpoint === SHARD_END;
}
