import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { KinesisClient, type KinesisClientConfig } from '@aws-sdk/client-kinesis';
import { LOCAL_CREDENTIALS, localRequestHandler } from '../clients.js';
import { type AcceptedEntry, EntryLog, type EntryLogOptions } from './EntryLog.js';
import { parseExplicitHashKey } from './hashKeys.js';
import { listShards } from './listShards.js';
import {
  ApiError,
  describeStreamSummary,
  putRecord,
  putRecords,
  type RequestLimits,
  type SimulatorState,
} from './operations.js';
import { mergeShards, splitShard } from './resharding.js';
import type { ShardLimits } from './ShardWindow.js';
import { SequenceNumbers, SimulatedStream, SimulatorError } from './SimulatedStream.js';

/** Options for {@link startKinesisSimulator}. */
export interface KinesisSimulatorOptions {
  /** Streams that exist from the start. @defaultValue `[]` */
  streams?: ReadonlyArray<{
    streamName: string;
    shardCount: number;
    /** The stream's maximum record size (as UpdateMaxRecordSize sets it), 1,024 to 10,240. */
    maxRecordSizeInKiB?: number;
  }>;
  /**
   * Per-shard write limits over a sliding window, or `false` for none (CPU benchmarks).
   * @defaultValue `{ recordsPerSecond: 1_000, bytesPerSecond: 1_048_576, windowMs: 1_000 }`
   */
  shardLimits?: ShardLimits | false;
  /**
   * PutRecords / PutRecord request limits (always enforced). A stream whose maximum record size is above
   * 1 MiB takes requests of up to 10 MiB. @defaultValue the service's: 500, 5 MiB, 1 MiB
   */
  requestLimits?: RequestLimits;
  /** What to remember of accepted entries. @defaultValue every entry with its data, up to 200,000 */
  log?: EntryLogOptions;
  /** Region put into ARNs and clients. @defaultValue `'us-east-1'` */
  region?: string;
  /** Account id put into ARNs and messages. @defaultValue `'000000000000'` */
  account?: string;
  /** Clock (ms) of the sliding windows; tests may pass a fake one. @defaultValue `performance.now` */
  now?: () => number;
  /** Largest request body accepted; larger ones get a 413 and the connection closes. @defaultValue `16_777_216` */
  maxBodyBytes?: number;
}

/** A snapshot of one simulated shard. */
export interface SimulatedShardInfo {
  shardId: string;
  parentShardId: string | undefined;
  adjacentParentShardId: string | undefined;
  startingHashKey: bigint;
  endingHashKey: bigint;
  open: boolean;
  accepted: number;
  throttled: number;
  bytes: number;
}

/** Counters of a simulator since start (or the last `clearLog`, for the log only). */
export interface SimulatorStats {
  /** HTTP requests by operation name (unknown ones as `'Unknown'`). */
  requests: Record<string, number>;
  /** PutRecord(s) entries that passed validation. */
  entries: number;
  accepted: number;
  /** Data + partition key bytes accepted. */
  acceptedBytes: number;
  /** Entries refused with ProvisionedThroughputExceededException. */
  throttled: number;
  /** Requests answered with a 4xx/5xx error (validation, not found, ...). */
  rejectedRequests: number;
  /** Accepted entries that did not fit the log. */
  droppedFromLog: number;
}

/** A running simulator. */
export interface KinesisSimulator {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  readonly region: string;
  /** A KinesisClient for this simulator (HTTP/1.1, dummy credentials); destroyed by `stop()`. */
  createClient(config?: Partial<KinesisClientConfig>): KinesisClient;
  /** Creates a stream; `maxRecordSizeInKiB` (1,024 to 10,240) as UpdateMaxRecordSize would set it. */
  createStream(streamName: string, shardCount: number, options?: { maxRecordSizeInKiB?: number }): void;
  /** Changes a stream's maximum record size, as UpdateMaxRecordSize does (1,024 to 10,240 KiB). */
  updateMaxRecordSize(streamName: string, maxRecordSizeInKiB: number): void;
  /** Splits an open shard (at the middle of its range by default); returns the children's ids. */
  splitShard(streamName: string, shardId: string, newStartingHashKey?: bigint | string): [string, string];
  /** Merges two adjacent open shards; returns the child's id. */
  mergeShards(streamName: string, shardId: string, adjacentShardId: string): string;
  /** Every shard of a stream, open and closed, in creation order. */
  shards(streamName: string): SimulatedShardInfo[];
  /** Accepted entries in acceptance order (empty in `'counts'` mode). */
  accepted(): readonly AcceptedEntry[];
  /** Empties the entry log (counters stay). */
  clearLog(): void;
  stats(): SimulatorStats;
  /** Closes the server and the clients it made. Safe to call twice. */
  stop(): Promise<void>;
}

const OPERATIONS: Record<string, (state: SimulatorState, body: Record<string, unknown>) => unknown> = {
  PutRecords: putRecords,
  PutRecord: putRecord,
  ListShards: listShards,
  DescribeStreamSummary: describeStreamSummary,
  SplitShard: splitShard,
  MergeShards: mergeShards,
};
const TARGET_PREFIX = 'Kinesis_20131202.';
const CONTENT_TYPE = 'application/x-amz-json-1.1';

/**
 * Starts a loopback Kinesis data-plane simulator (JSON 1.1 protocol over HTTP/1.1 on 127.0.0.1, a free
 * port): ListShards, DescribeStreamSummary, PutRecords, PutRecord, SplitShard and MergeShards, with the service's request limits,
 * per-shard sliding-window limits answered as per-entry ProvisionedThroughputExceededException, hash-range
 * routing, splits and merges, and a log of accepted entries.
 */
export async function startKinesisSimulator(
  options: KinesisSimulatorOptions = {},
): Promise<KinesisSimulator> {
  const region = options.region ?? 'us-east-1';
  const account = options.account ?? '000000000000';
  const maxBodyBytes = options.maxBodyBytes ?? 16 * 1024 * 1024;
  const shardLimits =
    options.shardLimits === false
      ? undefined
      : {
          recordsPerSecond: options.shardLimits?.recordsPerSecond ?? 1_000,
          bytesPerSecond: options.shardLimits?.bytesPerSecond ?? 1_048_576,
          windowMs: options.shardLimits?.windowMs ?? 1_000,
        };
  if (shardLimits && !(shardLimits.recordsPerSecond >= 1 && shardLimits.recordsPerSecond <= 1_000_000)) {
    throw new SimulatorError('INVALID_OPTION', 'shardLimits.recordsPerSecond must be 1..1,000,000');
  }
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
    counters: { entries: 0, accepted: 0, acceptedBytes: 0, throttled: 0, rejected: 0 },
    nextSequenceNumber: () => sequence.next(),
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
      new SimulatedStream(
        streamName,
        arn,
        shardCount,
        shardLimits,
        sequence,
        streamOptions.maxRecordSizeInKiB,
      ),
    );
  };
  for (const { streamName, shardCount, maxRecordSizeInKiB } of options.streams ?? []) {
    createStream(streamName, shardCount, maxRecordSizeInKiB === undefined ? {} : { maxRecordSizeInKiB });
  }

  const respond = (res: ServerResponse, status: number, payload: unknown): void => {
    const body = JSON.stringify(payload);
    requestIds += 1;
    res.writeHead(status, {
      'content-type': CONTENT_TYPE,
      'content-length': Buffer.byteLength(body),
      'x-amzn-requestid': `sim-${requestIds}`,
    });
    res.end(body);
  };

  const handle = (req: IncomingMessage, res: ServerResponse, raw: Buffer): void => {
    const target = req.headers['x-amz-target'];
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
        body = raw.length === 0 ? {} : (JSON.parse(raw.toString('utf8')) as Record<string, unknown>);
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

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        res.writeHead(413, { connection: 'close' }).end();
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (size <= maxBodyBytes)
        handle(req, res, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
    });
  });
  // Longer than the SDK agent's idle sockets live, so the server never closes one the client is about to reuse.
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const endpoint = `http://127.0.0.1:${port}`;
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
    stats: () => ({
      requests: { ...requests },
      entries: state.counters.entries,
      accepted: state.counters.accepted,
      acceptedBytes: state.counters.acceptedBytes,
      throttled: state.counters.throttled,
      rejectedRequests: state.counters.rejected,
      droppedFromLog: log.dropped,
    }),
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        for (const client of clients.splice(0)) client.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return stopping;
    },
  };
}
