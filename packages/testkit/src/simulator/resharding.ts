import { parseExplicitHashKey } from './hashKeys.js';
import { ApiError, resolveStream, type SimulatorState } from './operations.js';
import { SimulatorError } from './SimulatedStream.js';

type Body = Record<string, unknown>;

/**
 * SplitShard and MergeShards over the wire, so another process's SDK client can reshard a stream a producer
 * is writing to. The simulator applies them at once (Kinesis takes seconds, with the stream UPDATING).
 */
export function splitShard(state: SimulatorState, body: Body): Body {
  const stream = resolveStream(state, body);
  const shardId = requiredString(body, 'ShardToSplit');
  const key = requiredString(body, 'NewStartingHashKey');
  const at = parseExplicitHashKey(key);
  if (at === undefined) {
    throw new ApiError(400, 'InvalidArgumentException', `NewStartingHashKey ${key} is not a valid hash key.`);
  }
  asServiceError(() => stream.split(shardId, at));
  return {};
}

export function mergeShards(state: SimulatorState, body: Body): Body {
  const stream = resolveStream(state, body);
  const shardId = requiredString(body, 'ShardToMerge');
  const adjacent = requiredString(body, 'AdjacentShardToMerge');
  asServiceError(() => stream.merge(shardId, adjacent));
  return {};
}

function requiredString(body: Body, name: string): string {
  const value = body[name];
  if (typeof value !== 'string' || value.length === 0) {
    throw new ApiError(
      400,
      'ValidationException',
      `1 validation error detected: Value at '${name.charAt(0).toLowerCase()}${name.slice(1)}' failed to satisfy constraint: Member must not be null`,
    );
  }
  return value;
}

// The stream's own errors, answered as Kinesis names them.
function asServiceError(run: () => unknown): void {
  try {
    run();
  } catch (error) {
    if (!(error instanceof SimulatorError)) throw error;
    const type =
      error.code === 'RESOURCE_NOT_FOUND' ? 'ResourceNotFoundException' : 'InvalidArgumentException';
    throw new ApiError(400, type, error.message);
  }
}
