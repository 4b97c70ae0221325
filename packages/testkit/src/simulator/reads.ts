import { ApiError, resolveStream, type SimulatorState } from './operations.js';
import type { StoredRecord } from './ShardRecords.js';
import type { SimulatedShard, SimulatedStream } from './SimulatedStream.js';

type Body = Record<string, unknown>;

/** GetRecords answers at most this many records and bytes (data + partition key) per call. */
export const MAX_RECORDS_PER_CALL = 10_000;
export const MAX_BYTES_PER_CALL = 10 * 1024 * 1024;
const ITERATOR_TYPES = new Set([
  'AT_SEQUENCE_NUMBER',
  'AFTER_SEQUENCE_NUMBER',
  'TRIM_HORIZON',
  'LATEST',
  'AT_TIMESTAMP',
]);
const SEQUENCE_NUMBER = /^\d{1,128}$/;

/** What a shard iterator carries (base64url JSON): where reading resumes and when it was issued. */
interface IteratorToken {
  stream: string;
  shard: string;
  /** Reading resumes at the first record whose sequence number is greater than this. */
  after: string;
  /** On the simulator's `now` clock. */
  issued: number;
}

/** A starting position as GetShardIterator and SubscribeToShard take it. */
export interface StartingPosition {
  type: unknown;
  sequenceNumber: unknown;
  /** Epoch seconds, as the JSON protocol sends timestamps. */
  timestamp: unknown;
}

export function findShard(state: SimulatorState, stream: SimulatedStream, shardId: unknown): SimulatedShard {
  if (typeof shardId !== 'string' || shardId.length === 0) {
    throw new ApiError(400, 'ValidationException', "Value null at 'shardId' failed to satisfy constraint.");
  }
  const shard = stream.shard(shardId);
  if (!shard) {
    throw new ApiError(
      400,
      'ResourceNotFoundException',
      `Shard ${shardId} in stream ${stream.name} under account ${state.account} does not exist`,
    );
  }
  return shard;
}

/**
 * The sequence number after which reading starts for `position` on `shard`: every record of the shard
 * has a larger one. Shared by GetShardIterator and SubscribeToShard.
 */
export function resolveStart(
  state: SimulatorState,
  stream: SimulatedStream,
  shard: SimulatedShard,
  position: StartingPosition,
): bigint {
  const { type } = position;
  if (typeof type !== 'string' || !ITERATOR_TYPES.has(type)) {
    throw new ApiError(
      400,
      'ValidationException',
      `1 validation error detected: Value '${String(type)}' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]`,
    );
  }
  const latest = shard.endingSequenceNumber
    ? BigInt(shard.endingSequenceNumber)
    : state.currentSequenceNumber();
  if (type === 'TRIM_HORIZON') return BigInt(shard.startingSequenceNumber);
  if (type === 'LATEST') return latest;
  if (type === 'AT_TIMESTAMP') {
    const seconds = position.timestamp;
    if (typeof seconds !== 'number' || !Number.isFinite(seconds)) {
      throw new ApiError(400, 'InvalidArgumentException', 'Timestamp is required for AT_TIMESTAMP.');
    }
    const index = shard.records.firstArrivedAt(seconds * 1000);
    return index < shard.records.end ? shard.records.at(index).seq - 1n : latest;
  }
  const text = position.sequenceNumber;
  if (typeof text !== 'string' || !SEQUENCE_NUMBER.test(text)) {
    throw new ApiError(
      400,
      'InvalidArgumentException',
      `StartingSequenceNumber is required for ${type} and must be a decimal sequence number.`,
    );
  }
  const seq = BigInt(text);
  const ending = shard.endingSequenceNumber ? BigInt(shard.endingSequenceNumber) : undefined;
  if (seq < BigInt(shard.startingSequenceNumber) || (ending !== undefined && seq > ending)) {
    throw new ApiError(
      400,
      'InvalidArgumentException',
      `StartingSequenceNumber ${text} used in GetShardIterator on shard ${shard.shardId} in stream ${stream.name} under account ${state.account} is invalid because it did not come from this stream.`,
    );
  }
  return type === 'AT_SEQUENCE_NUMBER' ? seq - 1n : seq;
}

function encodeIterator(token: IteratorToken): string {
  return Buffer.from(JSON.stringify(token), 'utf8').toString('base64url');
}

function decodeIterator(text: unknown): IteratorToken {
  if (typeof text === 'string') {
    try {
      const token = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as IteratorToken;
      if (
        typeof token.stream === 'string' &&
        typeof token.shard === 'string' &&
        typeof token.after === 'string' &&
        SEQUENCE_NUMBER.test(token.after) &&
        typeof token.issued === 'number'
      ) {
        return token;
      }
    } catch {
      // Fall through to the service's answer for a bad iterator.
    }
  }
  throw new ApiError(400, 'InvalidArgumentException', 'Invalid ShardIterator.');
}

export function getShardIterator(state: SimulatorState, body: Body): Body {
  const stream = resolveStream(state, body);
  const shard = findShard(state, stream, body.ShardId);
  const after = resolveStart(state, stream, shard, {
    type: body.ShardIteratorType,
    sequenceNumber: body.StartingSequenceNumber,
    timestamp: body.Timestamp,
  });
  return {
    ShardIterator: encodeIterator({
      stream: stream.name,
      shard: shard.shardId,
      after: String(after),
      issued: state.now(),
    }),
  };
}

/** A batch read from a shard: its records, what comes next, and whether the shard is read to its end. */
export interface ShardBatch {
  records: StoredRecord[];
  bytes: number;
  /** The position after the batch. */
  after: bigint;
  millisBehindLatest: number;
  /** True when the shard is closed and nothing is left after the batch. */
  ended: boolean;
}

/** Reads up to `maxRecords` / `maxBytes` (at least one record when any is there) after `after`. */
export function readBatch(
  shard: SimulatedShard,
  after: bigint,
  maxRecords: number,
  maxBytes: number,
): ShardBatch {
  const store = shard.records;
  let index = store.firstAfter(after);
  const records: StoredRecord[] = [];
  let bytes = 0;
  while (index < store.end && records.length < maxRecords) {
    const record = store.at(index);
    if (records.length > 0 && bytes + record.size > maxBytes) break;
    records.push(record);
    bytes += record.size;
    index += 1;
  }
  const last = records[records.length - 1];
  const remaining = index < store.end;
  return {
    records,
    bytes,
    after: last ? last.seq : after,
    millisBehindLatest: remaining ? Math.max(0, Date.now() - store.at(index).arrival) : 0,
    ended: shard.endingSequenceNumber !== undefined && !remaining,
  };
}

export function recordJson(record: StoredRecord): Body {
  return {
    SequenceNumber: record.sequenceNumber,
    ApproximateArrivalTimestamp: record.arrival / 1000,
    Data: record.data,
    PartitionKey: record.partitionKey,
  };
}

/** The ChildShards member for the end of `shard`. */
export function childShardsJson(stream: SimulatedStream, shard: SimulatedShard): Body[] {
  return stream.children(shard.shardId).map((child) => ({
    ShardId: child.shardId,
    ParentShards: [child.parentShardId, child.adjacentParentShardId].filter((id) => id !== undefined),
    HashKeyRange: {
      StartingHashKey: String(child.startingHashKey),
      EndingHashKey: String(child.endingHashKey),
    },
  }));
}

export function getRecords(state: SimulatorState, body: Body): Body {
  const limit = body.Limit ?? MAX_RECORDS_PER_CALL;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_RECORDS_PER_CALL) {
    throw new ApiError(
      400,
      'ValidationException',
      `1 validation error detected: Value '${String(limit)}' at 'limit' failed to satisfy constraint: Member must have value between 1 and ${MAX_RECORDS_PER_CALL}`,
    );
  }
  const token = decodeIterator(body.ShardIterator);
  const stream = resolveStream(state, { StreamName: token.stream });
  const shard = findShard(state, stream, token.shard);
  const now = state.now();
  if (now - token.issued > state.iteratorLifetimeMs) {
    throw new ApiError(
      400,
      'ExpiredIteratorException',
      `Iterator expired. The iterator was created more than ${state.iteratorLifetimeMs} milliseconds ago.`,
    );
  }
  if (shard.reads && !shard.reads.tryCall(now)) {
    state.counters.readThrottled += 1;
    throw new ApiError(
      400,
      'ProvisionedThroughputExceededException',
      `Rate exceeded for Shard - ${shard.shardId} in stream ${stream.name} under account ${state.account}.`,
    );
  }
  const batch = readBatch(shard, BigInt(token.after), limit, MAX_BYTES_PER_CALL);
  shard.reads?.charge(now, batch.bytes);
  state.counters.readRecords += batch.records.length;
  state.counters.readBytes += batch.bytes;
  return {
    Records: batch.records.map(recordJson),
    MillisBehindLatest: batch.millisBehindLatest,
    ...(batch.ended
      ? { ChildShards: childShardsJson(stream, shard) }
      : {
          NextShardIterator: encodeIterator({
            stream: stream.name,
            shard: shard.shardId,
            after: String(batch.after),
            issued: now,
          }),
        }),
  };
}
