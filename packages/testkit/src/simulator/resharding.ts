import { shardJson } from './listShards.js';
import { ApiError, resolveStream, type SimulatorState, streamLimits } from './operations.js';
import { SimulatorError } from './SimulatedStream.js';

type Body = Record<string, unknown>;

/** The service's error for a simulator error raised by a split or merge. */
function apiErrorOf(error: unknown): unknown {
  if (!(error instanceof SimulatorError)) return error;
  const type = error.code === 'RESOURCE_NOT_FOUND' ? 'ResourceNotFoundException' : 'InvalidArgumentException';
  return new ApiError(400, type, error.message);
}

/** SplitShard, applied at once (the real stream is UPDATING for a few seconds first). */
export function splitShard(state: SimulatorState, body: Body): Body {
  const stream = resolveStream(state, body);
  const at = body.NewStartingHashKey;
  if (typeof body.ShardToSplit !== 'string' || typeof at !== 'string' || !/^(0|[1-9]\d{0,38})$/.test(at)) {
    throw new ApiError(
      400,
      'ValidationException',
      'ShardToSplit and NewStartingHashKey (a decimal hash key) are required.',
    );
  }
  try {
    stream.split(body.ShardToSplit, BigInt(at));
  } catch (error) {
    throw apiErrorOf(error);
  }
  return {};
}

/** MergeShards, applied at once. */
export function mergeShards(state: SimulatorState, body: Body): Body {
  const stream = resolveStream(state, body);
  if (typeof body.ShardToMerge !== 'string' || typeof body.AdjacentShardToMerge !== 'string') {
    throw new ApiError(400, 'ValidationException', 'ShardToMerge and AdjacentShardToMerge are required.');
  }
  try {
    stream.merge(body.ShardToMerge, body.AdjacentShardToMerge);
  } catch (error) {
    throw apiErrorOf(error);
  }
  return {};
}

/** DescribeStream: the stream with a page of its shards (all of them, open and closed, in creation order). */
export function describeStream(state: SimulatorState, body: Body): Body {
  const stream = resolveStream(state, body);
  const limit = body.Limit ?? 100;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > 10_000) {
    throw new ApiError(400, 'ValidationException', 'Limit must be between 1 and 10000.');
  }
  const after = typeof body.ExclusiveStartShardId === 'string' ? body.ExclusiveStartShardId : undefined;
  // Shard ids are zero-padded, so string order is creation order.
  const matching = stream.shards.filter((s) => after === undefined || s.shardId > after);
  return {
    StreamDescription: {
      StreamName: stream.name,
      StreamARN: stream.arn,
      StreamStatus: 'ACTIVE',
      StreamModeDetails: { StreamMode: 'PROVISIONED' },
      Shards: matching.slice(0, limit).map(shardJson),
      HasMoreShards: matching.length > limit,
      RetentionPeriodHours: 24,
      StreamCreationTimestamp: stream.createdAt.getTime() / 1000,
      EnhancedMonitoring: [{ ShardLevelMetrics: [] }],
      EncryptionType: 'NONE',
      MaxRecordSizeInKiB: Math.floor(streamLimits(state, stream).maxRecordBytes / 1024),
    },
  };
}
