// `pnpm bench consumer` (or `pnpm bench balancing`): throughput balancing against count balancing on a skewed
// stream, and the lease-table reads it costs with and without the owner index (LeaseOwnerToLeaseKeyIndex).
// Four in-process workers with real lease and heartbeat tables (dynalite); Kinesis is served from memory so
// the load is exact: 25 shards of 1,000-byte records, 10 records/s on each but one, 100/s on that one.
// Each scenario starts the fleet together, waits until no lease has moved for SETTLE_MS (and at least
// MIN_RUN_MS, so throughput balancing has measured a whole window), then measures what each worker processes
// over WINDOW_MS.
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import {
  GetRecordsCommand,
  type GetRecordsCommandInput,
  GetShardIteratorCommand,
  type GetShardIteratorCommandInput,
  type KinesisClient,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';
import { type LocalStack, startLocalStack, uniqueName } from '@shardline/testkit';
import { KinesisConsumer } from '../src/index.js';
import { snapshotTally, type Tally, tallyCapacity, tallySince } from './capacity.js';

const WORKERS = 4;
const SHARDS = 25;
const RECORD_BYTES = 1_000;
const COLD_RATE = 10; // records/s
const HOT_RATE = 100;
const FAILOVER_MS = 6_000; // balanceCooldownMs (and the throughput window) = 18 s
const MIN_RUN_MS = 60_000;
const SETTLE_MS = 30_000;
const WINDOW_MS = 30_000;
const GIVE_UP_MS = 300_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const fmt = (value: number, digits = 1): string =>
  value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const rows: Array<[string, string, string]> = [];

const pad = (n: number, width: number): string => String(n).padStart(width, '0');
const MAX_HASH = 2n ** 128n;
const shardIds = Array.from({ length: SHARDS }, (_, i) => `shardId-${pad(i, 12)}`);
const rateOf = (index: number): number => (index === 0 ? HOT_RATE : COLD_RATE);
/** 56 digits: the shard's index, then the record's index in the shard. */
const sequenceOf = (shard: number, k: number): string => `49590${pad(shard, 3)}${pad(k, 48)}`;

/**
 * Kinesis in memory: record `k` of a shard arrives at `k / rate` seconds after the stream was made; an
 * iterator is `shard:next record`.
 */
function syntheticKinesis(): KinesisClient {
  const t0 = performance.now();
  const data = new Uint8Array(RECORD_BYTES);
  const arrived = (shard: number): number => Math.floor(((performance.now() - t0) / 1000) * rateOf(shard));
  const send = async (command: unknown): Promise<unknown> => {
    if (command instanceof ListShardsCommand) {
      return {
        Shards: shardIds.map((ShardId, i) => ({
          ShardId,
          HashKeyRange: {
            StartingHashKey: String((MAX_HASH * BigInt(i)) / BigInt(SHARDS)),
            EndingHashKey: String((MAX_HASH * BigInt(i + 1)) / BigInt(SHARDS) - 1n),
          },
          SequenceNumberRange: { StartingSequenceNumber: sequenceOf(i, 0) },
        })),
      };
    }
    if (command instanceof GetShardIteratorCommand) {
      const input: GetShardIteratorCommandInput = command.input;
      const shard = shardIds.indexOf(input.ShardId ?? '');
      const at = input.StartingSequenceNumber ? Number(input.StartingSequenceNumber.slice(8)) : 0;
      const next =
        input.ShardIteratorType === 'AFTER_SEQUENCE_NUMBER'
          ? at + 1
          : input.ShardIteratorType === 'LATEST'
            ? arrived(shard)
            : at;
      return { ShardIterator: `${shard}:${next}` };
    }
    if (command instanceof GetRecordsCommand) {
      const input: GetRecordsCommandInput = command.input;
      const [shardText, fromText] = (input.ShardIterator ?? '0:0').split(':');
      const shard = Number(shardText);
      const from = Number(fromText);
      const available = arrived(shard);
      const count = Math.max(0, Math.min(available - from, input.Limit ?? 10_000));
      const Records = Array.from({ length: count }, (_, i) => ({
        SequenceNumber: sequenceOf(shard, from + i),
        PartitionKey: 'k',
        Data: data,
        ApproximateArrivalTimestamp: new Date(Date.now() - ((available - from - i) / rateOf(shard)) * 1000),
      }));
      return {
        Records,
        NextShardIterator: `${shard}:${from + count}`,
        MillisBehindLatest: Math.round(((available - from - count) / rateOf(shard)) * 1000),
      };
    }
    throw new Error(`the in-memory Kinesis does not serve ${(command as object).constructor.name}`);
  };
  return { send } as unknown as KinesisClient;
}

interface Outcome {
  convergedAfterMs: number;
  moves: number;
  balanceMoves: number;
  perWorkerKBps: number[];
  leaseReadsPerWorkerMinute: number;
  leaseReadUnitsPerWorkerMinute: number;
  reads: string;
}

async function scenario(
  stack: LocalStack,
  balancing: 'throughput' | 'count',
  ownerIndex: boolean,
): Promise<Outcome> {
  const applicationName = uniqueName(`bench-${balancing}`);
  const dynamoDBClient = stack.createDynamoDBClient();
  if (!ownerIndex) {
    // As the Java KCL 2.x creates it: no owner index; Shardline uses an existing table as it is.
    await dynamoDBClient.send(
      new CreateTableCommand({
        TableName: applicationName,
        KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  }
  const tally: Tally = new Map();
  tallyCapacity(dynamoDBClient, tally, (table) => table === `${applicationName}-Workers`);
  const kinesisClient = syntheticKinesis();
  let lastChange = performance.now();
  let moves = 0;
  const workers = Array.from({ length: WORKERS }, (_, i) => {
    const consumer = new KinesisConsumer({
      kinesisClient,
      dynamoDBClient,
      streamName: 'in-memory',
      applicationName,
      workerId: `w${i}`,
      initialPosition: 'TRIM_HORIZON',
      failoverTimeMs: FAILOVER_MS,
      balancing,
      processor: async () => {},
    });
    consumer.on('leaseAcquired', () => {
      lastChange = performance.now();
    });
    consumer.on('leaseHandedOff', () => {
      moves++;
    });
    return consumer;
  });
  const startedAt = performance.now();
  const before = snapshotTally(tally);
  await Promise.all(workers.map((consumer) => consumer.start()));
  for (;;) {
    const now = performance.now();
    if (now - startedAt >= MIN_RUN_MS && now - lastChange >= SETTLE_MS) break;
    if (now - startedAt > GIVE_UP_MS)
      throw new Error(`${balancing}: leases still moving after ${GIVE_UP_MS} ms`);
    await sleep(500);
  }
  const convergedAfterMs = lastChange - startedAt;
  const bytesBefore = workers.map((consumer) => consumer.metrics().bytesProcessed);
  const windowStart = performance.now();
  await sleep(WINDOW_MS);
  const seconds = (performance.now() - windowStart) / 1000;
  const perWorkerKBps = workers.map(
    (consumer, i) => (consumer.metrics().bytesProcessed - (bytesBefore[i] ?? 0)) / 1024 / seconds,
  );
  const balanceMoves = workers.reduce((sum, consumer) => sum + consumer.metrics().balanceMoves, 0);
  const minutes = (performance.now() - startedAt) / 60_000;
  const window = tallySince(tally, before);
  await Promise.all(workers.map((consumer) => consumer.stop({ timeoutMs: 5_000 })));
  let reads = 0;
  let readUnits = 0;
  const parts: string[] = [];
  for (const [key, entry] of window) {
    if (!/^lease (Scan|Query|GetItem)$/.test(key)) continue;
    reads += entry.count;
    readUnits += entry.units;
    parts.push(`${key.slice(6)} ${fmt(entry.count / WORKERS / minutes)}`);
  }
  dynamoDBClient.destroy();
  return {
    convergedAfterMs,
    moves,
    balanceMoves,
    perWorkerKBps,
    leaseReadsPerWorkerMinute: reads / WORKERS / minutes,
    leaseReadUnitsPerWorkerMinute: readUnits / WORKERS / minutes,
    reads: parts.join(', '),
  };
}

function report(name: string, o: Outcome): void {
  const max = Math.max(...o.perWorkerKBps);
  const min = Math.min(...o.perWorkerKBps);
  const mean = o.perWorkerKBps.reduce((a, b) => a + b, 0) / o.perWorkerKBps.length;
  rows.push([
    `${name}: last lease move after start`,
    `${fmt(o.convergedAfterMs / 1000)} s (${o.moves} handoffs, ${o.balanceMoves} by the throughput plan)`,
    'no move for 30 s after it',
  ]);
  rows.push([
    `${name}: KiB/s processed per worker over ${WINDOW_MS / 1000} s`,
    `${o.perWorkerKBps.map((v) => fmt(v, 0)).join(' / ')}: max/min ${fmt(max / min, 2)}, max/mean ${fmt(max / mean, 2)}`,
    `ideal 97.7 alone on the hot shard, 78.1 on each other (max/min 1.25)`,
  ]);
  rows.push([
    `${name}: lease-table reads per worker-minute (whole run)`,
    `${fmt(o.leaseReadsPerWorkerMinute)} requests, ${fmt(o.leaseReadUnitsPerWorkerMinute)} RCU (${o.reads})`,
    'heartbeat-table reads not included',
  ]);
}

const stack = await startLocalStack();
try {
  report('throughput, owner index', await scenario(stack, 'throughput', true));
  report('throughput, no owner index (KCL 2.x table)', await scenario(stack, 'throughput', false));
  report('count, owner index', await scenario(stack, 'count', true));
} finally {
  await stack.stop();
}
const width = Math.max(...rows.map((r) => r[0].length));
console.log(
  `\nskewed stream: ${SHARDS} shards, ${WORKERS} workers, one shard at ${HOT_RATE / COLD_RATE}x (failoverTimeMs ${FAILOVER_MS})`,
);
console.log(`${'measure'.padEnd(width)} | result | note`);
for (const [name, value, note] of rows) console.log(`${name.padEnd(width)} | ${value} | ${note}`);
