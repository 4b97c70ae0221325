// A fleet of in-process workers for the lease-table cost benchmark (not a benchmark itself), as an OS process
// of its own so the DynamoDB emulator (in the benchmark's process) and the workers do not share a core.
//
// Writes a lease table of `shards` leases in the Java KCL 2.x item shape (as a KCL fleet leaves it after a
// graceful stop: unowned, checkpointed at 56-digit sequence numbers, parentShardId and hash ranges set), runs
// `workers` KinesisConsumers with default timings against it, each with its own DynamoDB client, and serves
// Kinesis from memory: `shards` idle open shards (ListShards paginated, GetRecords always empty). Once every
// worker holds its share and nothing has moved for `settleMs`, it measures `windowMs`, then prints one JSON
// line: the capacity units metrics() reported, the per-operation tally, and the table's item sizes.
// Config in SHARDLINE_FLEET (JSON).
import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import {
  type AttributeValue,
  BatchWriteItemCommand,
  type DynamoDBClient,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
  type Shard,
} from '@aws-sdk/client-kinesis';
import { connectLocalStack, type LocalStackEndpoints } from '@shardline/testkit';
import { DynamoDBLeaseStore, KinesisConsumer } from '../src/index.js';
import { itemBytes, snapshotTally, type Tally, tallyCapacity, tallySince } from './capacity.js';

interface FleetConfig {
  endpoints: LocalStackEndpoints;
  applicationName: string;
  workers: number;
  shards: number;
  settleMs: number;
  windowMs: number;
  balanceTimeoutMs: number;
}

/** What the fleet prints when done. */
export interface FleetResult {
  type: 'result';
  workers: number;
  shards: number;
  windowMs: number;
  /** From start() until every worker held its share and nothing had moved for settleMs. */
  steadyAfterMs: number;
  /** Sums over the workers of the metrics() deltas over the window. */
  reported: { readUnits: number; writeUnits: number; reads: number; writes: number };
  /** Per operation from start() to the steady state, all workers (the cost of reaching balance). */
  startupTally: Record<string, { count: number; failed: number; units: number; ms: number }>;
  /** Lease events from start() to the steady state, by name. */
  startupMoves: Record<string, number>;
  /** Per operation over the window, all workers. */
  tally: Record<string, { count: number; failed: number; units: number; ms: number }>;
  /** Lease moves during the window by event (`leaseLost` by reason too): none in a steady state. */
  movesInWindow: Record<string, number>;
  leaseItems: { count: number; totalBytes: number; maxBytes: number };
  heartbeatItems: { count: number; totalBytes: number };
  /** Event-loop delay of the fleet process over the window (ms): large values mean an overloaded host. */
  loopDelayP99Ms: number;
  /** CPU time of the fleet process over the window, in cores (1 = one core busy throughout). */
  cpuCores: number;
}

const config = JSON.parse(process.env.SHARDLINE_FLEET ?? '{}') as FleetConfig;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const out = (line: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify({ at: Date.now(), ...line })}\n`);
};

const MAX_HASH = 2n ** 128n;
const pad = (n: number): string => String(n).padStart(12, '0');
/** A Kinesis-like 56-digit sequence number. */
const sequenceNumber = (): string =>
  `4959${Array.from({ length: 52 }, () => Math.floor(Math.random() * 10)).join('')}`;

// The stream after a split of every shard of an earlier generation: shardId-000000001000 and up, open, each
// with a parent that has aged out (no longer listed, no lease left).
const shards: Shard[] = Array.from({ length: config.shards }, (_, i) => ({
  ShardId: `shardId-${pad(config.shards + i)}`,
  ParentShardId: `shardId-${pad(Math.floor(config.shards / 2) + Math.floor(i / 2))}`,
  HashKeyRange: {
    StartingHashKey: String((MAX_HASH * BigInt(i)) / BigInt(config.shards)),
    EndingHashKey: String((MAX_HASH * BigInt(i + 1)) / BigInt(config.shards) - 1n),
  },
  SequenceNumberRange: { StartingSequenceNumber: sequenceNumber() },
}));

/** Kinesis in memory: ListShards paginated (100 a page), every shard idle. */
function idleKinesis(): KinesisClient {
  const PAGE = 100;
  const send = async (command: unknown): Promise<unknown> => {
    if (command instanceof ListShardsCommand) {
      const from = Number(command.input.NextToken ?? '0');
      const next = from + PAGE;
      return {
        Shards: shards.slice(from, next),
        ...(next < shards.length ? { NextToken: String(next) } : {}),
      };
    }
    if (command instanceof GetShardIteratorCommand) return { ShardIterator: `it-${command.input.ShardId}` };
    if (command instanceof GetRecordsCommand) {
      return { Records: [], NextShardIterator: command.input.ShardIterator, MillisBehindLatest: 0 };
    }
    throw new Error(`the in-memory Kinesis does not serve ${(command as object).constructor.name}`);
  };
  return { send } as unknown as KinesisClient;
}

/** The lease table as a stopped Java KCL 2.x fleet leaves it. */
async function writeKclTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await new DynamoDBLeaseStore({ client, tableName }).ensureTable();
  const items: Array<Record<string, AttributeValue>> = shards.map((shard) => ({
    leaseKey: { S: shard.ShardId ?? '' },
    leaseCounter: { N: String(1_000 + Math.floor(Math.random() * 50_000)) },
    checkpoint: { S: sequenceNumber() },
    checkpointSubSequenceNumber: { N: '0' },
    ownerSwitchesSinceCheckpoint: { N: '0' },
    parentShardId: { SS: [shard.ParentShardId ?? ''] },
    startingHashKey: { S: shard.HashKeyRange?.StartingHashKey ?? '' },
    endingHashKey: { S: shard.HashKeyRange?.EndingHashKey ?? '' },
  }));
  for (let i = 0; i < items.length; i += 25) {
    const requests = items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
    let unprocessed: typeof requests | undefined = requests;
    while (unprocessed && unprocessed.length > 0) {
      const response = await client.send(
        new BatchWriteItemCommand({ RequestItems: { [tableName]: unprocessed } }),
      );
      unprocessed = response.UnprocessedItems?.[tableName] as typeof requests | undefined;
    }
  }
}

async function scanAll(
  client: DynamoDBClient,
  tableName: string,
): Promise<Array<Record<string, AttributeValue>>> {
  const items: Array<Record<string, AttributeValue>> = [];
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey: startKey }),
    );
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return items;
}

const stack = connectLocalStack(config.endpoints);
const workerTable = `${config.applicationName}-Workers`;
await writeKclTable(stack.dynamoDB, config.applicationName);

const tally: Tally = new Map();
const kinesis = idleKinesis();
let lastMoveAt = performance.now();
/** Lease events since start, by name (losses by reason too). */
const moves = new Map<string, number>();
const consumers = Array.from({ length: config.workers }, () => {
  const dynamoDBClient = stack.createDynamoDBClient();
  tallyCapacity(dynamoDBClient, tally, (table) => table === workerTable);
  const consumer = new KinesisConsumer({
    kinesisClient: kinesis,
    dynamoDBClient,
    streamName: 'in-memory',
    applicationName: config.applicationName,
    workerId: randomUUID(), // the Java KCL's default worker id: 36 characters
    initialPosition: 'TRIM_HORIZON',
    processor: async () => {},
  });
  const moved = (event: string) => (): void => {
    lastMoveAt = performance.now();
    moves.set(event, (moves.get(event) ?? 0) + 1);
  };
  consumer.on('leaseAcquired', moved('leaseAcquired'));
  consumer.on('leaseHandedOff', moved('leaseHandedOff'));
  consumer.on('leaseReleased', moved('leaseReleased'));
  consumer.on('leaseLost', ({ reason }) => moved(`leaseLost (${reason})`)());
  consumer.on('handoffRequested', moved('handoffRequested'));
  return consumer;
});

const startedAt = performance.now();
// Started a renewal interval apart in all (as a fleet rolls out), not in the same millisecond: workers
// started together renew in step, and 1,000 renewals at once queue for a second or more in the single-threaded
// emulator, which stretches every renew round (DynamoDB spreads them over partitions).
const starts: Array<Promise<void>> = [];
for (const consumer of consumers) {
  starts.push(consumer.start());
  await sleep(Math.floor(10_000 / 3 / config.workers));
}
await Promise.all(starts);
const share = config.shards / config.workers;
let lastProgress = 0;
for (;;) {
  const held = consumers.map((consumer) => consumer.heldShardIds().length);
  const now = performance.now();
  if (held.every((n) => n === share) && now - lastMoveAt >= config.settleMs) break;
  if (now - startedAt > config.balanceTimeoutMs) {
    out({
      type: 'error',
      message: `not balanced after ${config.balanceTimeoutMs} ms (held ${held.join(' ')}; events ${JSON.stringify(Object.fromEntries(moves))})`,
    });
    // Stopped first: a request still in flight when the emulator closes would crash the benchmark's process.
    await Promise.all(consumers.map((consumer) => consumer.stop({ timeoutMs: 5_000 })));
    process.exit(1);
  }
  if (now - lastProgress >= 10_000) {
    out({
      type: 'progress',
      seconds: Math.round((now - startedAt) / 1000),
      held,
      events: Object.fromEntries(moves),
    });
    lastProgress = now;
  }
  await sleep(250);
}
const steadyAfterMs = performance.now() - startedAt;

const metricsNow = () => consumers.map((consumer) => consumer.metrics());
const before = metricsNow();
const tallyBefore = snapshotTally(tally);
const movesBefore = new Map(moves);
const loop = monitorEventLoopDelay({ resolution: 20 });
loop.enable();
out({ type: 'window' });
const cpuBefore = process.cpuUsage();
const windowStart = performance.now();
await sleep(config.windowMs);
const windowMs = performance.now() - windowStart;
const cpu = process.cpuUsage(cpuBefore);
loop.disable();
const after = metricsNow();
const windowTally = tallySince(tally, tallyBefore);
const movesInWindow: Record<string, number> = {};
for (const [event, count] of moves) {
  const inWindow = count - (movesBefore.get(event) ?? 0);
  if (inWindow > 0) movesInWindow[event] = inWindow;
}

const sum = (pick: (m: ReturnType<typeof metricsNow>[number]) => number): number =>
  after.reduce((total, m, i) => total + pick(m) - pick(before[i] as typeof m), 0);
const leaseItems = await scanAll(stack.dynamoDB, config.applicationName);
const heartbeatItems = await scanAll(stack.dynamoDB, workerTable);
const leaseSizes = leaseItems.map(itemBytes);
const result: FleetResult = {
  type: 'result',
  workers: config.workers,
  shards: config.shards,
  windowMs,
  steadyAfterMs,
  reported: {
    readUnits: sum((m) => m.leaseTableReadUnits),
    writeUnits: sum((m) => m.leaseTableWriteUnits),
    reads: sum((m) => m.leaseTableReads),
    writes: sum((m) => m.leaseTableWrites),
  },
  startupTally: Object.fromEntries(tallyBefore),
  startupMoves: Object.fromEntries(movesBefore),
  tally: Object.fromEntries(windowTally),
  movesInWindow,
  leaseItems: {
    count: leaseItems.length,
    totalBytes: leaseSizes.reduce((a, b) => a + b, 0),
    maxBytes: Math.max(...leaseSizes),
  },
  heartbeatItems: {
    count: heartbeatItems.length,
    totalBytes: heartbeatItems.map(itemBytes).reduce((a, b) => a + b, 0),
  },
  loopDelayP99Ms: loop.percentile(99) / 1e6,
  cpuCores: (cpu.user + cpu.system) / 1000 / windowMs,
};
out(result as unknown as Record<string, unknown>);
await Promise.all(consumers.map((consumer) => consumer.stop({ timeoutMs: 5_000 })));
stack.destroy();
process.exit(0);
