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

/** The rules of enhanced fan-out (SubscribeToShard, RegisterStreamConsumer), as AWS documents them. */
export const FAN_OUT_LIMITS = {
  /** SubscribeToShard allows 1 call per second per consumer and shard. */
  minSubscribeIntervalMs: 1_000,
  /**
   * A subscribe within 5 s of a successful one (for the same consumer and shard) fails with
   * ResourceInUseException; one after that takes over. So after ResourceInUse, wait at least this long.
   */
  resourceInUseWaitMs: 5_000,
  /** Backoff after a failed subscription: full jitter, doubling from the base up to the ceiling. */
  backoffBaseMs: 200,
  backoffMaxMs: 5_000,
  /** DescribeStreamConsumer while a consumer is CREATING (the API allows 20 calls/s per stream). */
  describeIntervalMs: 1_000,
} as const;
