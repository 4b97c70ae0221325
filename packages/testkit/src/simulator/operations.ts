import type { EntryLog } from './EntryLog.js';
import { hashKeyBytes, parseExplicitHashKey, partitionKeyHash } from './hashKeys.js';
import type { SimulatedShard, SimulatedStream } from './SimulatedStream.js';

/** A service error answered as `{ "__type": type, "message": message }` with `status`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

/** Request limits of PutRecords / PutRecord. */
export interface RequestLimits {
  /** @defaultValue `500` */
  maxRecordsPerRequest?: number;
  /** Data + partition keys of one PutRecords request. @defaultValue `5_242_880` */
  maxRequestBytes?: number;
  /** Data + partition key of one record (a stream's default maximum record size). @defaultValue `1_048_576` */
  maxRecordBytes?: number;
}

/** What the operations work on. */
export interface SimulatorState {
  readonly account: string;
  readonly streams: Map<string, SimulatedStream>;
  readonly log: EntryLog;
  readonly limits: Required<RequestLimits>;
  readonly now: () => number;
  readonly counters: {
    entries: number;
    accepted: number;
    acceptedBytes: number;
    throttled: number;
    rejected: number;
    /** GetRecords calls refused with ProvisionedThroughputExceededException. */
    readThrottled: number;
    /** Records and bytes returned by GetRecords. */
    readRecords: number;
    readBytes: number;
  };
  nextSequenceNumber(): string;
  /** The last sequence number issued (LATEST reads after it). */
  currentSequenceNumber(): bigint;
  /** Registered consumers of a stream that are not gone (DescribeStreamSummary's ConsumerCount). */
  consumerCount(streamArn: string): number;
  /** How long a shard iterator stays valid, on the `now` clock. */
  readonly iteratorLifetimeMs: number;
}

type Body = Record<string, unknown>;

export function resolveStream(state: SimulatorState, body: Body): SimulatedStream {
  const name = body.StreamName;
  const arn = body.StreamARN;
  let stream: SimulatedStream | undefined;
  if (typeof name === 'string') stream = state.streams.get(name);
  else if (typeof arn === 'string') stream = [...state.streams.values()].find((s) => s.arn === arn);
  else throw new ApiError(400, 'ValidationException', 'Either StreamName or StreamARN must be provided.');
  if (!stream) {
    throw new ApiError(
      400,
      'ResourceNotFoundException',
      `Stream ${String(name ?? arn)} under account ${state.account} not found.`,
    );
  }
  return stream;
}

/** Decoded length of base64 without decoding it. */
function base64Length(text: string): number {
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return Math.floor((text.length * 3) / 4) - padding;
}

interface CheckedEntry {
  partitionKey: string;
  data: string;
  explicitHashKey: string | undefined;
  hashKey: Buffer;
  size: number;
}

const MiB = 1024 * 1024;
/** PutRecords request limit of a stream whose maximum record size is above 1 MiB. */
export const LARGE_REQUEST_BYTES = 10 * MiB;

/**
 * A stream's record and request limits: its own maximum record size (UpdateMaxRecordSize) or the simulator's;
 * a stream allowing records above 1 MiB takes requests of up to 10 MiB.
 */
export function streamLimits(
  state: SimulatorState,
  stream: SimulatedStream,
): { maxRecordBytes: number; maxRequestBytes: number } {
  const maxRecordBytes = stream.maxRecordBytes ?? state.limits.maxRecordBytes;
  const maxRequestBytes =
    maxRecordBytes > MiB
      ? Math.max(state.limits.maxRequestBytes, LARGE_REQUEST_BYTES)
      : state.limits.maxRequestBytes;
  return { maxRecordBytes, maxRequestBytes };
}

/** Validates a request's entries as Kinesis does, before writing any: one bad entry fails the whole request. */
function checkEntries(
  state: SimulatorState,
  stream: SimulatedStream,
  records: unknown,
  single: boolean,
): CheckedEntry[] {
  const { maxRecordsPerRequest } = state.limits;
  const { maxRecordBytes, maxRequestBytes } = streamLimits(state, stream);
  if (!Array.isArray(records)) throw new ApiError(400, 'ValidationException', 'Records is required.');
  const problems: string[] = [];
  if (records.length < 1 || records.length > maxRecordsPerRequest) {
    const bound =
      records.length < 1 ? 'greater than or equal to 1' : `less than or equal to ${maxRecordsPerRequest}`;
    problems.push(`Value at 'records' failed to satisfy constraint: Member must have length ${bound}`);
  }
  const checked: CheckedEntry[] = [];
  let total = 0;
  let tooBig: string | undefined;
  let badHashKey: string | undefined;
  records.forEach((record: Body, index) => {
    const at = single ? '' : `records.${index + 1}.member.`;
    const partitionKey = record?.PartitionKey;
    const data = record?.Data;
    const ehk = record?.ExplicitHashKey;
    if (typeof partitionKey !== 'string' || partitionKey.length < 1) {
      problems.push(
        `Value at '${at}partitionKey' failed to satisfy constraint: Member must have length greater than or equal to 1`,
      );
      return;
    }
    if (partitionKey.length > 256 && [...partitionKey].length > 256) {
      problems.push(
        `Value at '${at}partitionKey' failed to satisfy constraint: Member must have length less than or equal to 256`,
      );
      return;
    }
    if (typeof data !== 'string') {
      problems.push(`Value at '${at}data' failed to satisfy constraint: Member must not be null`);
      return;
    }
    const dataBytes = base64Length(data);
    if (dataBytes > maxRecordBytes) {
      problems.push(
        `Value at '${at}data' failed to satisfy constraint: Member must have length less than or equal to ${maxRecordBytes}`,
      );
      return;
    }
    let hashKey: Buffer;
    if (ehk === undefined || ehk === null) {
      hashKey = partitionKeyHash(partitionKey);
    } else {
      const parsed = typeof ehk === 'string' ? parseExplicitHashKey(ehk) : undefined;
      if (parsed === undefined) {
        if (typeof ehk === 'string' && /^(0|[1-9]\d{0,38})$/.test(ehk)) badHashKey ??= ehk;
        else {
          problems.push(
            `Value '${String(ehk)}' at '${at}explicitHashKey' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})`,
          );
        }
        return;
      }
      hashKey = hashKeyBytes(parsed);
    }
    const size = dataBytes + Buffer.byteLength(partitionKey, 'utf8');
    if (size > maxRecordBytes) tooBig ??= `${index}`;
    total += size;
    checked.push({
      partitionKey,
      data,
      explicitHashKey: typeof ehk === 'string' ? ehk : undefined,
      hashKey,
      size,
    });
  });
  if (problems.length > 0) {
    const count =
      problems.length === 1 ? '1 validation error detected' : `${problems.length} validation errors detected`;
    throw new ApiError(400, 'ValidationException', `${count}: ${problems.slice(0, 10).join('; ')}`);
  }
  if (badHashKey !== undefined) {
    throw new ApiError(
      400,
      'InvalidArgumentException',
      `Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was ${badHashKey}`,
    );
  }
  if (tooBig !== undefined) {
    throw new ApiError(
      400,
      'InvalidArgumentException',
      `Record size exceeds ${maxRecordBytes} bytes (data + partition key).`,
    );
  }
  if (total > maxRequestBytes) {
    throw new ApiError(
      400,
      'InvalidArgumentException',
      `Records size exceeds ${Math.round(maxRequestBytes / MiB)} MB limit`,
    );
  }
  return checked;
}

/**
 * Writes one checked entry: routes it, applies the shard's window, keeps it readable, logs it. The sequence
 * number is undefined when throttled. `arrival` is the wall clock (epoch ms) of the request.
 */
function write(
  state: SimulatorState,
  stream: SimulatedStream,
  entry: CheckedEntry,
  now: number,
  arrival: number,
) {
  const shard: SimulatedShard = stream.route(entry.hashKey);
  state.counters.entries += 1;
  if (shard.window && !shard.window.tryAccept(now, entry.size)) {
    shard.stats.throttled += 1;
    state.counters.throttled += 1;
    return { shard, sequenceNumber: undefined };
  }
  const sequenceNumber = state.nextSequenceNumber();
  shard.stats.accepted += 1;
  shard.stats.bytes += entry.size;
  state.counters.accepted += 1;
  state.counters.acceptedBytes += entry.size;
  if (shard.records.keeps) {
    shard.records.append({
      seq: BigInt(sequenceNumber),
      sequenceNumber,
      partitionKey: entry.partitionKey,
      explicitHashKey: entry.explicitHashKey,
      data: entry.data,
      size: entry.size,
      arrival,
    });
  }
  const log = state.log;
  if (log.keepEntries) {
    log.add({
      streamName: stream.name,
      shardId: shard.shardId,
      sequenceNumber,
      partitionKey: entry.partitionKey,
      explicitHashKey: entry.explicitHashKey,
      data: log.keepData ? Buffer.from(entry.data, 'base64') : undefined,
    });
  }
  return { shard, sequenceNumber };
}

function throttleMessage(state: SimulatorState, stream: SimulatedStream, shard: SimulatedShard): string {
  return `Rate exceeded for shard ${shard.shardId} in stream ${stream.name} under account ${state.account}.`;
}

export function putRecords(state: SimulatorState, body: Body): Body {
  const stream = resolveStream(state, body);
  const entries = checkEntries(state, stream, body.Records, false);
  const now = state.now();
  const arrival = Date.now();
  let failed = 0;
  const results: Body[] = new Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const { shard, sequenceNumber } = write(state, stream, entries[i] as CheckedEntry, now, arrival);
    if (sequenceNumber === undefined) {
      failed += 1;
      results[i] = {
        ErrorCode: 'ProvisionedThroughputExceededException',
        ErrorMessage: throttleMessage(state, stream, shard),
      };
    } else {
      results[i] = { SequenceNumber: sequenceNumber, ShardId: shard.shardId };
    }
  }
  return { FailedRecordCount: failed, Records: results, EncryptionType: 'NONE' };
}

export function putRecord(state: SimulatorState, body: Body): Body {
  const stream = resolveStream(state, body);
  const [entry] = checkEntries(state, stream, [body], true);
  if (!entry) throw new ApiError(400, 'ValidationException', 'Record is required.');
  const { shard, sequenceNumber } = write(state, stream, entry, state.now(), Date.now());
  if (sequenceNumber === undefined) {
    throw new ApiError(400, 'ProvisionedThroughputExceededException', throttleMessage(state, stream, shard));
  }
  return { ShardId: shard.shardId, SequenceNumber: sequenceNumber, EncryptionType: 'NONE' };
}

export function describeStreamSummary(state: SimulatorState, body: Body): Body {
  const stream = resolveStream(state, body);
  return {
    StreamDescriptionSummary: {
      StreamName: stream.name,
      StreamARN: stream.arn,
      StreamStatus: 'ACTIVE',
      StreamModeDetails: { StreamMode: 'PROVISIONED' },
      RetentionPeriodHours: 24,
      StreamCreationTimestamp: stream.createdAt.getTime() / 1000,
      EnhancedMonitoring: [{ ShardLevelMetrics: [] }],
      EncryptionType: 'NONE',
      OpenShardCount: stream.openShards().length,
      ConsumerCount: state.consumerCount(stream.arn),
      MaxRecordSizeInKiB: Math.floor(streamLimits(state, stream).maxRecordBytes / 1024),
    },
  };
}
