import { performance } from 'node:perf_hooks';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { LOCAL_CREDENTIALS, localRequestHandler } from '../clients.js';
import { EntryLog } from './EntryLog.js';
import { parseExplicitHashKey } from './hashKeys.js';
import { listShards } from './listShards.js';
import { ApiError, describeStreamSummary, putRecord, putRecords, type SimulatorState } from './operations.js';
import { getRecords, getShardIterator } from './reads.js';
import { describeStream, mergeShards, splitShard } from './resharding.js';
import { SequenceNumbers, type ShardSetup, SimulatedStream, SimulatorError } from './SimulatedStream.js';
import { listenBoth, type Response, type TransportRequest } from './transport.js';
import type { KinesisSimulator, KinesisSimulatorOptions } from './types.js';

const OPERATIONS: Record<string, (state: SimulatorState, body: Record<string, unknown>) => unknown> = {
  PutRecords: putRecords,
  PutRecord: putRecord,
  ListShards: listShards,
  DescribeStreamSummary: describeStreamSummary,
  DescribeStream: describeStream,
  GetShardIterator: getShardIterator,
  GetRecords: getRecords,
  SplitShard: splitShard,
  MergeShards: mergeShards,
};
const TARGET_PREFIX = 'Kinesis_20131202.';
const CONTENT_TYPE = 'application/x-amz-json-1.1';

function checkRange(value: number, min: number, max: number, label: string): number {
  if (!(Number.isFinite(value) && value >= min && value <= max)) {
    throw new SimulatorError('INVALID_OPTION', `${label} must be ${min}..${max}, got ${value}`);
  }
  return value;
}

/** The options' shard setup, validated. */
function shardSetup(options: KinesisSimulatorOptions): ShardSetup {
  const writes = options.shardLimits;
  const reads = options.readLimits;
  const setup: ShardSetup = {
    writeLimits:
      writes === false
        ? undefined
        : {
            recordsPerSecond: writes?.recordsPerSecond ?? 1_000,
            bytesPerSecond: writes?.bytesPerSecond ?? 1_048_576,
            windowMs: writes?.windowMs ?? 1_000,
          },
    readLimits:
      reads === false
        ? undefined
        : { callsPerSecond: reads?.callsPerSecond ?? 5, bytesPerSecond: reads?.bytesPerSecond ?? 2_097_152 },
    retainedBytesPerShard: checkRange(
      options.retainedBytesPerShard ?? 32 * 1024 * 1024,
      1024,
      4 * 1024 ** 3,
      'retainedBytesPerShard',
    ),
  };
  if (setup.writeLimits) {
    checkRange(setup.writeLimits.recordsPerSecond, 1, 1_000_000, 'shardLimits.recordsPerSecond');
  }
  if (setup.readLimits) {
    checkRange(setup.readLimits.callsPerSecond, 1, 10_000, 'readLimits.callsPerSecond');
    checkRange(setup.readLimits.bytesPerSecond, 1, 1024 ** 3, 'readLimits.bytesPerSecond');
  }
  return setup;
}

/**
 * Starts a loopback Kinesis data-plane simulator (JSON 1.1 protocol on 127.0.0.1, a free port, HTTP/1.1 and
 * HTTP/2 cleartext on the same port): PutRecords / PutRecord with the service's request limits and per-shard
 * write limits, GetShardIterator / GetRecords with per-shard read limits and iterator expiry, ListShards,
 * DescribeStream(Summary), SplitShard / MergeShards, and a log of accepted entries.
 */
export async function startKinesisSimulator(
  options: KinesisSimulatorOptions = {},
): Promise<KinesisSimulator> {
  const region = options.region ?? 'us-east-1';
  const account = options.account ?? '000000000000';
  const maxBodyBytes = options.maxBodyBytes ?? 16 * 1024 * 1024;
  const setup = shardSetup(options);
  const sequence = new SequenceNumbers();
  const log = new EntryLog(options.log);
  const state: SimulatorState = {
    account,
    streams: new Map(),
    log,
    limits: {
      maxRecordsPerRequest: options.requestLimits?.maxRecordsPerRequest ?? 500,
      maxRequestBytes: options.requestLimits?.maxRequestBytes ?? 5 * 1024 * 1024,
      maxRecordBytes: options.requestLimits?.maxRecordBytes ?? 1024 * 1024,
    },
    now: options.now ?? (() => performance.now()),
    counters: {
      entries: 0,
      accepted: 0,
      acceptedBytes: 0,
      throttled: 0,
      rejected: 0,
      readThrottled: 0,
      readRecords: 0,
      readBytes: 0,
    },
    nextSequenceNumber: () => sequence.next(),
    currentSequenceNumber: () => sequence.current(),
    iteratorLifetimeMs: checkRange(options.iteratorLifetimeMs ?? 300_000, 1, 3_600_000, 'iteratorLifetimeMs'),
  };
  const requests: Record<string, number> = {};
  let requestIds = 0;

  const createStream = (
    streamName: string,
    shardCount: number,
    streamOptions: { maxRecordSizeInKiB?: number } = {},
  ): void => {
    if (state.streams.has(streamName))
      throw new SimulatorError('RESOURCE_IN_USE', `stream ${streamName} exists`);
    const arn = `arn:aws:kinesis:${region}:${account}:stream/${streamName}`;
    state.streams.set(
      streamName,
      new SimulatedStream(streamName, arn, shardCount, setup, sequence, streamOptions.maxRecordSizeInKiB),
    );
  };
  for (const { streamName, shardCount, maxRecordSizeInKiB } of options.streams ?? []) {
    createStream(streamName, shardCount, maxRecordSizeInKiB === undefined ? {} : { maxRecordSizeInKiB });
  }

  const respond = (res: Response, status: number, payload: unknown): void => {
    const body = JSON.stringify(payload);
    requestIds += 1;
    res.writeHead(status, {
      'content-type': CONTENT_TYPE,
      'content-length': Buffer.byteLength(body),
      'x-amzn-requestid': `sim-${requestIds}`,
    });
    res.end(body);
  };

  const handle = (request: TransportRequest, res: Response): void => {
    const target = request.headers['x-amz-target'];
    const operation =
      typeof target === 'string' && target.startsWith(TARGET_PREFIX)
        ? target.slice(TARGET_PREFIX.length)
        : '';
    const run = OPERATIONS[operation];
    requests[run ? operation : 'Unknown'] = (requests[run ? operation : 'Unknown'] ?? 0) + 1;
    try {
      if (!run) throw new ApiError(400, 'UnknownOperationException', `Unknown operation ${String(target)}`);
      let body: Record<string, unknown>;
      try {
        body =
          request.body.length === 0
            ? {}
            : (JSON.parse(request.body.toString('utf8')) as Record<string, unknown>);
      } catch {
        throw new ApiError(400, 'SerializationException', 'Request body is not valid JSON.');
      }
      respond(res, 200, run(state, body));
    } catch (error) {
      state.counters.rejected += 1;
      if (error instanceof ApiError)
        respond(res, error.status, { __type: error.type, message: error.message });
      else respond(res, 500, { __type: 'InternalFailure', message: 'Internal service failure.' });
    }
  };

  const transport = await listenBoth(handle, maxBodyBytes);
  const endpoint = `http://127.0.0.1:${transport.port}`;
  const clients: KinesisClient[] = [];
  let stopping: Promise<void> | undefined;

  const streamOf = (streamName: string): SimulatedStream => {
    const stream = state.streams.get(streamName);
    if (!stream) throw new SimulatorError('RESOURCE_NOT_FOUND', `no stream ${streamName}`);
    return stream;
  };

  return {
    endpoint,
    region,
    createClient(config = {}) {
      const client = new KinesisClient({
        region,
        credentials: LOCAL_CREDENTIALS,
        requestHandler: localRequestHandler(),
        ...config,
        endpoint,
      });
      clients.push(client);
      return client;
    },
    createStream,
    updateMaxRecordSize: (streamName, maxRecordSizeInKiB) =>
      streamOf(streamName).setMaxRecordSize(maxRecordSizeInKiB),
    splitShard(streamName, shardId, newStartingHashKey) {
      const at =
        typeof newStartingHashKey === 'string'
          ? parseExplicitHashKey(newStartingHashKey)
          : newStartingHashKey;
      if (typeof newStartingHashKey === 'string' && at === undefined) {
        throw new SimulatorError('INVALID_ARGUMENT', `bad NewStartingHashKey ${newStartingHashKey}`);
      }
      return streamOf(streamName).split(shardId, at);
    },
    mergeShards: (streamName, shardId, adjacentShardId) =>
      streamOf(streamName).merge(shardId, adjacentShardId),
    shards: (streamName) =>
      streamOf(streamName).shards.map((s) => ({
        shardId: s.shardId,
        parentShardId: s.parentShardId,
        adjacentParentShardId: s.adjacentParentShardId,
        startingHashKey: s.startingHashKey,
        endingHashKey: s.endingHashKey,
        open: s.endingSequenceNumber === undefined,
        ...s.stats,
      })),
    accepted: () => log.entries,
    clearLog: () => log.clear(),
    stats: () => {
      let trimmedRecords = 0;
      for (const stream of state.streams.values()) {
        for (const shard of stream.shards) trimmedRecords += shard.records.trimmed;
      }
      return {
        requests: { ...requests },
        entries: state.counters.entries,
        accepted: state.counters.accepted,
        acceptedBytes: state.counters.acceptedBytes,
        throttled: state.counters.throttled,
        rejectedRequests: state.counters.rejected,
        droppedFromLog: log.dropped,
        readThrottled: state.counters.readThrottled,
        readRecords: state.counters.readRecords,
        readBytes: state.counters.readBytes,
        trimmedRecords,
      };
    },
    stop() {
      stopping ??= (async () => {
        for (const client of clients.splice(0)) client.destroy();
        await transport.close();
      })();
      return stopping;
    },
  };
}
