import { ApiError, resolveStream, type SimulatorState } from './operations.js';
import type { SimulatedShard } from './SimulatedStream.js';

type Body = Record<string, unknown>;
const MAX_LIST_SHARDS = 10_000;
const DEFAULT_LIST_SHARDS = 1_000;

/** What a NextToken carries (base64url JSON): the query of the first page and where the next page starts. */
interface ListToken {
  stream: string;
  offset: number;
  filter: string | undefined;
  after: string | undefined;
}

export function listShards(state: SimulatorState, body: Body): Body {
  const maxResults = body.MaxResults ?? DEFAULT_LIST_SHARDS;
  if (
    typeof maxResults !== 'number' ||
    !Number.isInteger(maxResults) ||
    maxResults < 1 ||
    maxResults > MAX_LIST_SHARDS
  ) {
    throw new ApiError(
      400,
      'ValidationException',
      `1 validation error detected: Value '${String(maxResults)}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and ${MAX_LIST_SHARDS}`,
    );
  }
  let token: ListToken;
  if (typeof body.NextToken === 'string') {
    if (body.StreamName !== undefined || body.ExclusiveStartShardId !== undefined) {
      throw new ApiError(
        400,
        'InvalidArgumentException',
        'NextToken and StreamName cannot be provided together.',
      );
    }
    token = decodeToken(body.NextToken);
  } else {
    const filter = body.ShardFilter as { Type?: string; ShardId?: string } | undefined;
    if (filter?.Type === 'AFTER_SHARD_ID' && typeof filter.ShardId !== 'string') {
      throw new ApiError(
        400,
        'InvalidArgumentException',
        'ShardFilter type AFTER_SHARD_ID requires a ShardId.',
      );
    }
    const after = filter?.Type === 'AFTER_SHARD_ID' ? filter.ShardId : body.ExclusiveStartShardId;
    token = {
      stream: resolveStream(state, body).name,
      offset: 0,
      filter: filter?.Type,
      after: typeof after === 'string' ? after : undefined,
    };
  }
  const stream = resolveStream(state, { StreamName: token.stream });
  const after = token.after;
  // Shard ids are zero-padded, so string order is creation order.
  const matching = stream.shards.filter(
    (s) =>
      (token.filter !== 'AT_LATEST' || s.endingSequenceNumber === undefined) &&
      (after === undefined || s.shardId > after),
  );
  const page = matching.slice(token.offset, token.offset + maxResults);
  const next = token.offset + page.length;
  return {
    Shards: page.map(shardJson),
    ...(next < matching.length ? { NextToken: encodeToken({ ...token, offset: next }) } : {}),
  };
}

export function shardJson(shard: SimulatedShard): Body {
  return {
    ShardId: shard.shardId,
    ...(shard.parentShardId ? { ParentShardId: shard.parentShardId } : {}),
    ...(shard.adjacentParentShardId ? { AdjacentParentShardId: shard.adjacentParentShardId } : {}),
    HashKeyRange: {
      StartingHashKey: String(shard.startingHashKey),
      EndingHashKey: String(shard.endingHashKey),
    },
    SequenceNumberRange: {
      StartingSequenceNumber: shard.startingSequenceNumber,
      ...(shard.endingSequenceNumber ? { EndingSequenceNumber: shard.endingSequenceNumber } : {}),
    },
  };
}

function encodeToken(token: ListToken): string {
  return Buffer.from(JSON.stringify(token), 'utf8').toString('base64url');
}

function decodeToken(text: string): ListToken {
  try {
    const token = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as ListToken;
    if (typeof token.stream === 'string' && typeof token.offset === 'number') return token;
  } catch {
    // Fall through to the service's answer for a bad token.
  }
  throw new ApiError(400, 'InvalidArgumentException', 'Invalid NextToken.');
}
