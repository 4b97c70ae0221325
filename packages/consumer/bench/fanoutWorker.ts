// One consumer application (one KinesisConsumer, default options but `retrieval`) as an OS process for the
// fan-out benchmark (not a benchmark itself), so its CPU is measured alone. Config as JSON in
// SHARDLINE_FANOUT_WORKER; controlled over IPC: 'mark' starts a measuring window (latencies, records, bytes,
// CPU), 'report' answers with the window's figures, 'stop' stops the consumer and exits. Sends 'started'
// once it holds every shard.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import {
  connectLocalStack,
  createHttp2KinesisClient,
  LOCAL_CREDENTIALS,
  type LocalStackEndpoints,
  localRequestHandler,
} from '@shardline/testkit';
import { KinesisConsumer, type UserRecord } from '../src/index.js';

export interface FanOutWorkerConfig {
  endpoints: LocalStackEndpoints;
  simulatorEndpoint: string;
  streamName: string;
  applicationName: string;
  shardCount: number;
  mode: 'polling' | 'fan-out';
  /** The Kinesis client's handler: the SDK's default (HTTP/2) or the testkit's HTTP/1.1 keep-alive one. */
  handler: 'h2' | 'http1';
  initialPosition: 'LATEST' | 'TRIM_HORIZON';
  /**
   * 0: the plain handler, which checkpoints every batch (the default). Otherwise an object processor that
   * checkpoints at most once per this many ms per shard.
   */
  checkpointEveryMs: number;
}

/** Per shard, in the window: batches handed to the processor, when, and how many bytes. */
export interface ShardFlow {
  records: number;
  bytes: number;
  firstAt: number;
  lastAt: number;
  lastBatchBytes: number;
}

export interface WorkerReport {
  type: 'report';
  records: number;
  bytes: number;
  /** Put-to-processor latencies (ms, from the writer's stamp before PutRecords), sorted. */
  latencies: number[];
  /** Arrival-to-processor latencies (ms, from the record's ApproximateArrivalTimestamp), sorted. */
  arrivalLatencies: number[];
  /** Checkpoints written in the window. */
  checkpoints: number;
  /** Event-loop delay p99 and max (ms), processor calls and the mean gap between two on a shard (ms). */
  loop: { p99: number; max: number; calls: number; meanGapMs: number };
  /** DynamoDB round trips in the window. */
  dynamo: { count: number; totalMs: number; maxMs: number };
  cpuMicros: number;
  windowMs: number;
  /** CPU from the first batch of the window to the last, and the records after the first batch. */
  busyCpuMicros: number;
  busyRecords: number;
  shards: Record<string, ShardFlow>;
  getRecordsThrottles: number;
  polls: Record<string, PollTrace>;
}

const config = JSON.parse(process.env.SHARDLINE_FANOUT_WORKER ?? '{}') as FanOutWorkerConfig;
const epochMs = (): number => performance.timeOrigin + performance.now();
const region = config.endpoints.region;
const kinesisClient =
  config.handler === 'h2'
    ? createHttp2KinesisClient({ endpoint: config.simulatorEndpoint, region })
    : new KinesisClient({
        endpoint: config.simulatorEndpoint,
        region,
        credentials: LOCAL_CREDENTIALS,
        requestHandler: localRequestHandler(),
      });

/**
 * GetRecords as the fetcher sees them, per shard: answer times (ms), bytes, and refusals. Read from the SDK
 * client's middleware (shards known by following iterators), so the fetcher's pacing is measured without the
 * processor's delays.
 */
export interface PollTrace {
  at: number[];
  bytes: number[];
  throttled: number[];
}
let polls = new Map<string, PollTrace>();
const iteratorShard = new Map<string, string>();
const trace = (shardId: string): PollTrace => {
  let found = polls.get(shardId);
  if (!found) {
    found = { at: [], bytes: [], throttled: [] };
    polls.set(shardId, found);
  }
  return found;
};
kinesisClient.middlewareStack.add(
  (next, context) => async (args) => {
    const input = args.input as { ShardId?: string; ShardIterator?: string };
    const shardId =
      context.commandName === 'GetShardIteratorCommand'
        ? input.ShardId
        : iteratorShard.get(input.ShardIterator ?? '');
    if (input.ShardIterator) iteratorShard.delete(input.ShardIterator);
    try {
      const result = await next(args);
      const output = result.output as {
        ShardIterator?: string;
        NextShardIterator?: string;
        Records?: Array<{ Data?: Uint8Array; PartitionKey?: string }>;
      };
      const following = output.ShardIterator ?? output.NextShardIterator;
      if (shardId && following) iteratorShard.set(following, shardId);
      if (shardId && context.commandName === 'GetRecordsCommand') {
        let bytes = 0;
        for (const r of output.Records ?? [])
          bytes += (r.Data?.byteLength ?? 0) + (r.PartitionKey?.length ?? 0);
        const t = trace(shardId);
        t.at.push(epochMs());
        t.bytes.push(bytes);
      }
      return result;
    } catch (error) {
      // The fetcher keeps its iterator after a refusal.
      if (shardId && input.ShardIterator) iteratorShard.set(input.ShardIterator, shardId);
      if (shardId && context.commandName === 'GetRecordsCommand') trace(shardId).throttled.push(epochMs());
      throw error;
    }
  },
  { step: 'initialize', name: 'benchPollTrace' },
);
let window = { since: process.cpuUsage(), at: performance.now() };
let latencies: number[] = [];
let arrivalLatencies: number[] = [];
let checkpointsAtMark = 0;
let shards = new Map<string, ShardFlow>();
let throttlesAtMark = 0;
/** CPU samples from the window's first batch on, and the records processed after that batch. */
interface Busy {
  first?: NodeJS.CpuUsage;
  last?: NodeJS.CpuUsage;
  at: number;
  records: number;
  lastRecords: number;
}
let busy: Busy = { at: 0, records: 0, lastRecords: 0 };

const dynamoDBClient = connectLocalStack(config.endpoints).dynamoDB;
/** DynamoDB round trips (lease table and heartbeats), to tell a slow emulator from a slow consumer. */
const dynamo = { count: 0, totalMs: 0, maxMs: 0 };
dynamoDBClient.middlewareStack.add(
  (next) => async (args) => {
    const startedAt = performance.now();
    try {
      return await next(args);
    } finally {
      const ms = performance.now() - startedAt;
      dynamo.count++;
      dynamo.totalMs += ms;
      dynamo.maxMs = Math.max(dynamo.maxMs, ms);
    }
  },
  { step: 'initialize', name: 'benchDynamoTiming' },
);
const consumer = new KinesisConsumer({
  kinesisClient,
  dynamoDBClient,
  streamName: config.streamName,
  applicationName: config.applicationName,
  initialPosition: config.initialPosition,
  ...(config.mode === 'fan-out'
    ? { retrieval: { mode: 'fan-out', consumerName: config.applicationName } }
    : {}),
  processor:
    config.checkpointEveryMs === 0
      ? (records, { shardId }) => handle(records, shardId)
      : {
          processRecords: async ({ records, shardId, checkpointer }) => {
            handle(records, shardId);
            const now = performance.now();
            if (now - (checkpointedAt.get(shardId) ?? 0) >= config.checkpointEveryMs) {
              checkpointedAt.set(shardId, now);
              await checkpointer.checkpoint();
            }
          },
          shardEnded: ({ checkpointer }) => checkpointer.checkpoint(),
          shutdownRequested: ({ checkpointer }) => checkpointer.checkpoint(),
        },
});
const checkpointedAt = new Map<string, number>();

const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
/** Per shard: when the processor was last called, and how long from there to the next call. */
const calledAt = new Map<string, number>();
const gaps: number[] = [];

function handle(records: UserRecord[], shardId: string): void {
  const now = epochMs();
  const previous = calledAt.get(shardId);
  if (previous !== undefined) gaps.push(now - previous);
  calledAt.set(shardId, now);
  let bytes = 0;
  for (const record of records) {
    bytes += record.data.byteLength + record.partitionKey.length;
    const data = record.data;
    latencies.push(now - new DataView(data.buffer, data.byteOffset, 8).getFloat64(0, true));
    const arrival = record.approximateArrivalTimestamp?.getTime();
    if (arrival !== undefined) arrivalLatencies.push(now - arrival);
  }
  const flow = shards.get(shardId) ?? {
    records: 0,
    bytes: 0,
    firstAt: now,
    lastAt: now,
    lastBatchBytes: 0,
  };
  flow.records += records.length;
  flow.bytes += bytes;
  flow.lastAt = now;
  flow.lastBatchBytes = bytes;
  shards.set(shardId, flow);
  // CPU sampled at most every 100 ms: process.cpuUsage() per batch costs more than a small batch.
  if (busy.first === undefined) busy = { first: process.cpuUsage(), at: now, records: 0, lastRecords: 0 };
  else {
    busy.records += records.length;
    if (now - busy.at >= 100) {
      busy.last = process.cpuUsage();
      busy.at = now;
      busy.lastRecords = busy.records;
    }
  }
}

const mark = (): void => {
  window = { since: process.cpuUsage(), at: performance.now() };
  latencies = [];
  arrivalLatencies = [];
  checkpointsAtMark = consumer.metrics().checkpoints;
  Object.assign(dynamo, { count: 0, totalMs: 0, maxMs: 0 });
  loopDelay.reset();
  gaps.length = 0;
  shards = new Map();
  polls = new Map();
  throttlesAtMark = consumer.metrics().getRecordsThrottles;
  busy = { at: 0, records: 0, lastRecords: 0 };
};
const micros = (usage: NodeJS.CpuUsage): number => usage.user + usage.system;

process.on('message', (message: { type: 'mark' | 'progress' | 'report' | 'stop' }) => {
  if (message.type === 'progress') {
    let records = 0;
    for (const flow of shards.values()) records += flow.records;
    process.send?.({ type: 'progress', records });
  } else if (message.type === 'mark') {
    mark();
    process.send?.({ type: 'marked' });
  } else if (message.type === 'report') {
    const cpu = process.cpuUsage(window.since);
    let records = 0;
    let bytes = 0;
    for (const flow of shards.values()) {
      records += flow.records;
      bytes += flow.bytes;
    }
    const report: WorkerReport = {
      type: 'report',
      records,
      bytes,
      latencies: latencies.sort((a, b) => a - b),
      arrivalLatencies: arrivalLatencies.sort((a, b) => a - b),
      checkpoints: consumer.metrics().checkpoints - checkpointsAtMark,
      dynamo: { ...dynamo },
      loop: {
        p99: loopDelay.percentile(99) / 1e6,
        max: loopDelay.max / 1e6,
        calls: gaps.length,
        meanGapMs: gaps.reduce((sum, gap) => sum + gap, 0) / Math.max(1, gaps.length),
      },
      cpuMicros: micros(cpu),
      windowMs: performance.now() - window.at,
      busyCpuMicros: busy.first && busy.last ? micros(busy.last) - micros(busy.first) : 0,
      busyRecords: busy.lastRecords,
      shards: Object.fromEntries(shards),
      polls: Object.fromEntries(polls),
      getRecordsThrottles: consumer.metrics().getRecordsThrottles - throttlesAtMark,
    };
    process.send?.(report);
  } else {
    void consumer.stop({ timeoutMs: 5_000 }).finally(() => process.exit(0));
  }
});

mark(); // the window runs from before start() unless the benchmark marks again
await consumer.start();
const waitForLeases = setInterval(() => {
  if (consumer.heldShardIds().length === config.shardCount) {
    clearInterval(waitForLeases);
    process.send?.({ type: 'started' });
  }
}, 20);
