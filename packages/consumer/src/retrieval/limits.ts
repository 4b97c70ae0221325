/**
 * The pace of every GetRecords reader in this package (the consumer's shard consumers and `shardline tail`):
 * Kinesis allows 5 GetRecords calls per second per shard, shared by every reader of the shard.
 */
export const GET_RECORDS_LIMITS = {
  /** Floor between two GetRecords calls on one shard. */
  minCallIntervalMs: 200,
  /** Backoff after a failed call: full jitter, doubling from the base up to the ceiling. */
  backoffBaseMs: 200,
  backoffMaxMs: 5_000,
} as const;
