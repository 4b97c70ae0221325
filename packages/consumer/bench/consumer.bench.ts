// `pnpm bench consumer`: failover after SIGKILL, joining a fleet, lease-table writes per lease, and
// de-aggregate-and-dispatch throughput. Runs against the local stack (Kinesis emulator + dynalite) except
// the throughput figure, which uses an in-memory Kinesis source so the emulator's ~1 MB/s is not measured.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { RecordAggregator } from '@shardline/aggregation';
import { createStream, type LocalStack, startLocalStack, uniqueName } from '@shardline/testkit';
import { KinesisConsumer } from '../src/index.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const rows: Array<[string, string, string]> = [];

interface Line {
  worker: string;
  at: number;
  type: string;
  shardId?: string;
  count?: number;
}

function spawnWorker(config: Record<string, unknown>, lines: Line[]): ChildProcess {
  const script = fileURLToPath(new URL('./worker.ts', import.meta.url));
  const child = spawn(process.execPath, ['--conditions=@shardline/source', '--import', 'tsx', script], {
    env: {
      ...process.env,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      SHARDLINE_WORKER: JSON.stringify(config),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  createInterface({ input: child.stdout as NonNullable<typeof child.stdout> }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as Line);
    } catch {
      // not ours
    }
  });
  return child;
}

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('benchmark step timed out');
    await sleep(20);
  }
}

/**
 * SIGKILL one of two worker processes; time until each of its shards has a batch processed by the other. The
 * kill falls at a uniformly random point of the victim's heartbeat (renewal) cycle. Phases, from the
 * workers' own log lines: the victim's heartbeat age at the kill, the survivor seeing it dead (its live
 * worker count drops), the survivor's takes, and its first batch on each of the victim's shards.
 */
async function failover(stack: LocalStack, failoverTimeMs: number, trials: number): Promise<void> {
  const ratios: number[] = [];
  const phases = { heartbeatAge: [] as number[], detected: [] as number[], taken: [] as number[] };
  for (let trial = 0; trial < trials; trial++) {
    const streamName = uniqueName('bench-failover');
    const applicationName = uniqueName('bench-app');
    await createStream(stack.kinesis, { streamName, shardCount: 4 });
    const lines: Line[] = [];
    const base = { endpoints: stack.endpoints, streamName, applicationName, failoverTimeMs };
    const children = ['a', 'b'].map((workerId) => spawnWorker({ ...base, workerId }, lines));
    let producing = true;
    const producer = (async () => {
      while (producing) {
        const Records = Array.from({ length: 16 }, (_, i) => ({
          PartitionKey: `k${i}`,
          Data: new Uint8Array(8),
        }));
        await stack.kinesis.send(new PutRecordsCommand({ StreamName: streamName, Records }));
        await sleep(50);
      }
    })();
    try {
      const owner = (): Map<string, string> => {
        const map = new Map<string, string>();
        for (const l of lines) if (l.type === 'acquired' && l.shardId) map.set(l.shardId, l.worker);
        return map;
      };
      const holds = (worker: string): number => [...owner().values()].filter((w) => w === worker).length;
      await until(() => holds('a') === 2 && holds('b') === 2, 60_000);
      // Past the balancing, then at a uniformly random point of the renewal (heartbeat) cycle.
      await sleep(failoverTimeMs / 2 + Math.random() * Math.floor(failoverTimeMs / 3));
      const victimShards = [...owner()].filter(([, w]) => w === 'a').map(([s]) => s);
      children[0]?.kill('SIGKILL');
      const killedAt = Date.now();
      const after = (worker: string, type: string, shardId?: string): number | undefined =>
        lines.find(
          (l) =>
            l.worker === worker &&
            l.type === type &&
            l.at > killedAt &&
            (shardId === undefined || l.shardId === shardId),
        )?.at;
      await until(() => victimShards.every((s) => after('b', 'record', s) !== undefined), failoverTimeMs * 5);
      const worst = Math.max(...victimShards.map((s) => (after('b', 'record', s) ?? 0) - killedAt));
      ratios.push(worst / failoverTimeMs);
      const lastBeat = lines
        .filter((l) => l.worker === 'a' && l.type === 'heartbeat' && l.at <= killedAt)
        .pop();
      if (lastBeat) phases.heartbeatAge.push((killedAt - lastBeat.at) / failoverTimeMs);
      const detected = lines.find(
        (l) => l.worker === 'b' && l.type === 'liveWorkers' && l.count === 1 && l.at > killedAt,
      );
      if (detected) phases.detected.push((detected.at - killedAt) / failoverTimeMs);
      phases.taken.push(
        Math.max(...victimShards.map((s) => (after('b', 'acquired', s) ?? 0) - killedAt)) / failoverTimeMs,
      );
    } finally {
      producing = false;
      await producer;
      for (const child of children) child.kill('SIGKILL');
    }
  }
  const mean = (values: number[]): string =>
    `${(values.reduce((a, b) => a + b, 0) / Math.max(1, values.length)).toFixed(2)}x`;
  const met = ratios.reduce((a, b) => a + b, 0) / ratios.length <= 1.1;
  rows.push([
    `failover after SIGKILL (failoverTimeMs ${failoverTimeMs.toLocaleString('en-US')}, ${trials} trials)`,
    `mean ${mean(ratios)}, worst ${Math.max(...ratios).toFixed(2)}x of failoverTimeMs`,
    `goal mean <= 1.1x (${met ? 'met' : 'MISSED'}); phases (means, from the kill): victim's heartbeat age ` +
      `${mean(phases.heartbeatAge)}, death seen ${mean(phases.detected)}, leases taken ${mean(phases.taken)}, ` +
      `first batch ${mean(ratios)}`,
  ]);
}

/** Two in-process workers hold 8 shards; a third joins: time until it holds its settled share (2). */
async function joining(stack: LocalStack): Promise<void> {
  const streamName = uniqueName('bench-join');
  const applicationName = uniqueName('bench-app');
  await createStream(stack.kinesis, { streamName, shardCount: 8 });
  const make = (workerId: string): KinesisConsumer =>
    new KinesisConsumer({
      kinesisClient: stack.kinesis,
      dynamoDBClient: stack.dynamoDB,
      streamName,
      applicationName,
      workerId,
      initialPosition: 'TRIM_HORIZON',
      processor: async () => {},
    });
  const workers = [make('a'), make('b')];
  try {
    await Promise.all(workers.map((w) => w.start()));
    await until(() => workers.every((w) => w.heldShardIds().length === 4), 60_000);
    const joiner = make('c');
    workers.push(joiner);
    const startedAt = Date.now();
    await joiner.start();
    await until(() => joiner.heldShardIds().length >= 2, 60_000);
    const elapsed = Date.now() - startedAt;
    rows.push([
      'joining worker reaches its share (8 shards, 2 -> 3 workers, defaults)',
      `${(elapsed / 1000).toFixed(1)} s`,
      'takerIntervalMs 2,500; 1 steal per cycle',
    ]);
  } finally {
    await Promise.all(workers.map((w) => w.stop({ timeoutMs: 5_000 })));
  }
}

/** Lease-table writes per held lease per minute, idle stream, default timings. */
async function writesPerLease(stack: LocalStack, seconds: number): Promise<void> {
  const streamName = uniqueName('bench-writes');
  const applicationName = uniqueName('bench-app');
  await createStream(stack.kinesis, { streamName, shardCount: 4 });
  const consumer = new KinesisConsumer({
    kinesisClient: stack.kinesis,
    dynamoDBClient: stack.dynamoDB,
    streamName,
    applicationName,
    initialPosition: 'TRIM_HORIZON',
    processor: async () => {},
  });
  await consumer.start();
  await until(() => consumer.heldShardIds().length === 4, 30_000);
  const before = consumer.metrics().leaseTableWrites;
  await sleep(seconds * 1000);
  const writes = consumer.metrics().leaseTableWrites - before;
  await consumer.stop();
  rows.push([
    `lease-table writes per held lease per minute (idle, defaults, ${seconds} s)`,
    ((writes / 4) * (60 / seconds)).toFixed(1),
    'KCL 2.x about 18; busy shards add one per checkpoint',
  ]);
}

/** De-aggregate and dispatch from an in-memory source: user records/s on one core. */
async function throughput(stack: LocalStack, seconds: number): Promise<void> {
  // 25 KB aggregates (about 220 user records each), the same 200 records served on every call.
  const aggregator = new RecordAggregator({ maxBytes: 25_000 });
  const records: Array<{
    SequenceNumber: string;
    PartitionKey: string;
    Data: Uint8Array;
    ExplicitHashKey?: string;
  }> = [];
  const payload = new Uint8Array(100);
  let userRecords = 0;
  for (let i = 0; records.length < 200; i++) {
    const done = aggregator.add({ partitionKey: `key-${i % 1000}`, data: payload });
    userRecords++;
    if (done)
      records.push({
        SequenceNumber: String(10n ** 55n + BigInt(records.length)),
        PartitionKey: done.partitionKey,
        Data: done.data,
      });
  }
  const perCall = userRecords - aggregator.count;
  const fakeKinesis = {
    send: async (command: { constructor: { name: string } }) => {
      switch (command.constructor.name) {
        case 'ListShardsCommand':
          return {
            Shards: Array.from({ length: 4 }, (_, i) => ({
              ShardId: `shardId-${i}`,
              SequenceNumberRange: { StartingSequenceNumber: '0' },
            })),
          };
        case 'GetShardIteratorCommand':
          return { ShardIterator: 'it' };
        default:
          return { Records: records, NextShardIterator: 'it', MillisBehindLatest: 60_000 };
      }
    },
  };
  let dispatched = 0;
  const consumer = new KinesisConsumer({
    kinesisClient: fakeKinesis as unknown as ConstructorParameters<
      typeof KinesisConsumer
    >[0]['kinesisClient'],
    dynamoDBClient: stack.dynamoDB,
    streamName: 'in-memory',
    applicationName: uniqueName('bench-app'),
    initialPosition: 'TRIM_HORIZON',
    verifyChecksum: true,
    processor: {
      processRecords: ({ records: batch }) => {
        dispatched += batch.length;
      },
      shardEnded: ({ checkpointer }) => checkpointer.checkpoint(),
    },
  });
  await consumer.start();
  await until(() => dispatched > 0, 30_000);
  const from = dispatched;
  const startedAt = performance.now();
  await sleep(seconds * 1000);
  const rate = ((dispatched - from) / (performance.now() - startedAt)) * 1000;
  await consumer.stop();
  rows.push([
    `de-aggregate + dispatch, in-memory source (8 shards, ${perCall} user records of 100 B per call)`,
    `${Math.round(rate).toLocaleString('en-US')} user records/s`,
    'one core; MD5 verified; capped by 5 GetRecords/s per shard',
  ]);
}

// CONSUMER_BENCH=throughput,writes,join,failover runs a subset.
const only = new Set((process.env.CONSUMER_BENCH ?? 'throughput,writes,join,failover').split(','));
const stack = await startLocalStack();
try {
  if (only.has('throughput')) await throughput(stack, 5);
  if (only.has('writes')) await writesPerLease(stack, 30);
  if (only.has('join')) await joining(stack);
  if (only.has('failover')) {
    await failover(stack, 3_000, 8);
    await failover(stack, 10_000, 4);
  }
} finally {
  await stack.stop();
}
const width = Math.max(...rows.map((r) => r[0].length));
console.log(`\n${'measure'.padEnd(width)} | result | note`);
for (const [name, value, note] of rows) console.log(`${name.padEnd(width)} | ${value} | ${note}`);
