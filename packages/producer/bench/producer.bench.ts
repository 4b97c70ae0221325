// `pnpm bench producer`: goodput, CPU and latency of @shardline/producer on the testkit's Kinesis simulator
// (4 shards, real per-shard limits unless stated), against a hand-written PutRecords loop and aws-kinesis-agg
// batches without shard awareness. Not a test: it prints a table (copy it into the README).
import { type ChildProcess, fork } from 'node:child_process';
import { Agent } from 'node:http';
import { createRequire } from 'node:module';
import { setImmediate as yieldToIo } from 'node:timers/promises';
import { KinesisClient, PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import {
  KinesisProducer,
  type ProducerRecord,
  type PutManyResult,
  type PutOutcomeCallback,
} from '../src/index.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
const WARMUP_MS = 1_500;
const SHARDS = 4;
const DATA = Buffer.alloc(100, 7);
const KEYS = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
const SHARD_BYTES = 1_048_576;
// `BENCH_ONLY=cpu` runs only the CPU table (for profiling), `goodput` only the producer's goodput row, `large`
// only the large-record table; anything else runs everything.
const ONLY_CPU = process.env.BENCH_ONLY === 'cpu';

interface Simulator {
  child: ChildProcess;
  endpoint: string;
  region: string;
}

function request<T>(sim: Simulator, message: object, reply: string): Promise<T> {
  return new Promise((resolve) => {
    const onMessage = (m: { type: string } & T) => {
      if (m.type !== reply) return;
      sim.child.off('message', onMessage);
      resolve(m);
    };
    sim.child.on('message', onMessage);
    sim.child.send(message);
  });
}

async function startSimulator(limits: boolean): Promise<Simulator> {
  const child = fork(new URL('./simulatorProcess.ts', import.meta.url), [limits ? 'limits' : 'nolimits'], {
    execArgv: process.execArgv,
  });
  const ready = await new Promise<{ endpoint: string; region: string }>((resolve) => {
    child.once('message', (m: { endpoint: string; region: string }) => resolve(m));
  });
  return { child, ...ready };
}

let streamCounter = 0;
async function newStream(sim: Simulator): Promise<string> {
  streamCounter += 1;
  const streamName = `bench-${streamCounter}`;
  await request(sim, { type: 'createStream', streamName, shardCount: SHARDS }, 'created');
  return streamName;
}

function client(sim: Simulator): KinesisClient {
  return new KinesisClient({
    endpoint: sim.endpoint,
    region: sim.region,
    credentials: { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench' },
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: 64 }) }),
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
// Each key's record size, computed once: the drivers' own per-record work counts as client CPU.
const RECORD_BYTES = KEYS.map((key) => DATA.length + Buffer.byteLength(key));
const recordBytes = (i: number) => RECORD_BYTES[i % KEYS.length] as number;

interface Goodput {
  name: string;
  /** Bytes the simulator accepted in the window (data + partition keys of Kinesis records, as Kinesis counts). */
  wireBytesPerSecond: number;
  userRecordsPerSecond: number;
  payloadBytesPerSecond: number;
  lost: number;
  note: string;
}

/**
 * Counts accepted user records between the end of the warm-up and the end of the run; what is accepted
 * afterwards (retry loops finishing their batch) does not count.
 */
function windowCounter(durationMs: number, sim: Simulator) {
  let total = 0;
  let atWarmup = 0;
  let atEnd: number | undefined;
  const acceptedBytes = () =>
    request<{ stats: { acceptedBytes: number }; at: number }>(sim, { type: 'stats' }, 'stats').then((m) => ({
      bytes: m.stats.acceptedBytes,
      at: m.at,
    }));
  let bytesAtWarmup = Promise.resolve({ bytes: 0, at: 0 });
  let bytesAtEnd = Promise.resolve({ bytes: 0, at: 1 });
  setTimeout(() => {
    atWarmup = total;
    bytesAtWarmup = acceptedBytes();
  }, WARMUP_MS);
  setTimeout(() => {
    atEnd = total;
    bytesAtEnd = acceptedBytes();
  }, durationMs);
  return {
    add(n: number) {
      total += n;
    },
    inWindow: () => (atEnd ?? total) - atWarmup,
    /** Accepted bytes per second in the window, by the simulator's count (call after the run). */
    wireBytesPerSecond: async () => {
      const [start, end] = [await bytesAtWarmup, await bytesAtEnd];
      return ((end.bytes - start.bytes) * 1_000) / (end.at - start.at);
    },
  };
}

async function runOurs(sim: Simulator, ordered: boolean): Promise<Goodput> {
  const streamName = await newStream(sim);
  const kinesis = client(sim);
  const producer = new KinesisProducer({
    client: kinesis,
    streamName,
    ordered,
    ...(process.env.BENCH_RATE === undefined ? {} : { rateLimitPercent: Number(process.env.BENCH_RATE) }),
  });
  const counter = windowCounter(SECONDS * 1_000, sim);
  let failed = 0;
  const started = Date.now();
  const end = started + SECONDS * 1_000;
  let i = 0;
  while (Date.now() < end) {
    const bytes = recordBytes(i);
    if (!producer.hasCapacity(bytes)) {
      await producer.waitForCapacity(bytes);
      continue;
    }
    producer.put({ partitionKey: KEYS[i % KEYS.length] as string, data: DATA }).then(
      () => counter.add(1),
      () => {
        failed += 1;
      },
    );
    i += 1;
    if (i % 2_000 === 0) await yieldToIo();
  }
  const inWindow = counter.inWindow();
  await producer.close();
  kinesis.destroy();
  const seconds = SECONDS - WARMUP_MS / 1_000;
  const m = producer.metrics();
  return {
    name: ordered ? 'shardline producer, ordered' : 'shardline producer',
    wireBytesPerSecond: await counter.wireBytesPerSecond(),
    userRecordsPerSecond: inWindow / seconds,
    payloadBytesPerSecond: (inWindow * DATA.length) / seconds,
    lost: failed + (m.UserRecordsReceived - m.UserRecordsPut - m.UserRecordsFailed),
    note: `${m.ErrorsByCode.ProvisionedThroughputExceededException ?? 0} throttled entries, ${m.UserRecordsPerKinesisRecord.average.toFixed(0)} user records per Kinesis record, ${m.RequestTime.average.toFixed(0)} ms per request on average`,
  };
}

/** PutRecords with a retry loop for failed entries, as hand-written code does it. */
async function putWithRetries(
  kinesis: KinesisClient,
  streamName: string,
  entries: PutRecordsRequestEntry[],
  weights: number[],
  counter: ReturnType<typeof windowCounter>,
): Promise<number> {
  let pending = entries.map((entry, index) => ({ entry, weight: weights[index] ?? 1 }));
  let throttled = 0;
  for (let attempt = 0; pending.length > 0 && attempt < 50; attempt++) {
    const response = await kinesis.send(
      new PutRecordsCommand({ StreamName: streamName, Records: pending.map((p) => p.entry) }),
    );
    const failed: typeof pending = [];
    (response.Records ?? []).forEach((result, index) => {
      const item = pending[index];
      if (item === undefined) return;
      if (result.ErrorCode) {
        failed.push(item);
        if (result.ErrorCode === 'ProvisionedThroughputExceededException') throttled += 1;
      } else {
        counter.add(item.weight);
      }
    });
    pending = failed;
    if (pending.length > 0) await sleep(100);
  }
  return throttled;
}

async function runHandWritten(sim: Simulator): Promise<Goodput> {
  const streamName = await newStream(sim);
  const kinesis = client(sim);
  const counter = windowCounter(SECONDS * 1_000, sim);
  const end = Date.now() + SECONDS * 1_000;
  let throttled = 0;
  let next = 0;
  const worker = async () => {
    while (Date.now() < end) {
      const entries: PutRecordsRequestEntry[] = [];
      for (let i = 0; i < 500; i++) entries.push({ PartitionKey: KEYS[next++ % KEYS.length], Data: DATA });
      throttled += await putWithRetries(kinesis, streamName, entries, [], counter);
    }
  };
  await Promise.all(Array.from({ length: SHARDS }, worker));
  const seconds = SECONDS - WARMUP_MS / 1_000;
  kinesis.destroy();
  return {
    name: 'hand-written PutRecords loop',
    wireBytesPerSecond: await counter.wireBytesPerSecond(),
    userRecordsPerSecond: counter.inWindow() / seconds,
    payloadBytesPerSecond: (counter.inWindow() * DATA.length) / seconds,
    lost: 0,
    note: `${throttled} throttled entries; ${SHARDS} concurrent loops of 500-record batches`,
  };
}

interface AwsAggregator {
  checkIfUserRecordFits(record: { partitionKey: string; data: Buffer }): boolean;
  addUserRecord(record: { partitionKey: string; data: Buffer }): void;
  build(): { partitionKey: string; data: Buffer } | undefined;
  length(): number;
}
const awsAgg = createRequire(import.meta.url)('aws-kinesis-agg') as {
  RecordAggregator: new () => AwsAggregator;
};

async function runAwsKinesisAgg(sim: Simulator): Promise<Goodput> {
  const streamName = await newStream(sim);
  const kinesis = client(sim);
  const counter = windowCounter(SECONDS * 1_000, sim);
  const end = Date.now() + SECONDS * 1_000;
  let throttled = 0;
  let next = 0;
  const worker = async () => {
    const aggregator = new awsAgg.RecordAggregator();
    while (Date.now() < end) {
      // 100 aggregates of about 50 KB (the KPL's size): one 5 MiB request.
      const entries: PutRecordsRequestEntry[] = [];
      const weights: number[] = [];
      while (entries.length < 100) {
        let bytes = 0;
        while (bytes < 51_200) {
          const record = { partitionKey: KEYS[next++ % KEYS.length] as string, data: DATA };
          aggregator.addUserRecord(record);
          bytes += recordBytes(next - 1) + 8;
        }
        const count = aggregator.length();
        const built = aggregator.build();
        if (built === undefined) break;
        entries.push({ PartitionKey: built.partitionKey, Data: built.data });
        weights.push(count);
      }
      throttled += await putWithRetries(kinesis, streamName, entries, weights, counter);
    }
  };
  await Promise.all(Array.from({ length: SHARDS }, worker));
  const seconds = SECONDS - WARMUP_MS / 1_000;
  kinesis.destroy();
  return {
    name: 'aws-kinesis-agg, no shard awareness',
    wireBytesPerSecond: await counter.wireBytesPerSecond(),
    userRecordsPerSecond: counter.inWindow() / seconds,
    payloadBytesPerSecond: (counter.inWindow() * DATA.length) / seconds,
    lost: 0,
    note: `${throttled} throttled aggregates; ${SHARDS} concurrent loops of 100 x 50 KB aggregates`,
  };
}

type CpuMode = 'put' | 'putMany' | 'putEach';
// Records per putMany/putEach call in the CPU run.
const BATCH = 1_000;

async function runCpu(
  sim: Simulator,
  ordered: boolean,
  mode: CpuMode,
): Promise<{ records: number; cpuMs: number; wallMs: number }> {
  const streamName = await newStream(sim);
  const kinesis = client(sim);
  const producer = new KinesisProducer({ client: kinesis, streamName, ordered, rateLimitPercent: 10_000 });
  // Warm the shard map and the JIT first (through the path measured).
  const warm = Array.from({ length: 20_000 }, (_, i) => ({
    partitionKey: KEYS[i % KEYS.length] as string,
    data: DATA,
  }));
  if (mode === 'put') await Promise.all(warm.map((record) => producer.put(record)));
  else await producer.putMany(warm);
  const total = Number(process.env.BENCH_CPU_RECORDS ?? 400_000);
  const cpuStart = process.cpuUsage();
  const wallStart = Date.now();
  let done = 0;
  // One pair of handlers for every put, so the driver adds no closures per record to what is measured.
  const onStored = () => {
    done += 1;
  };
  const onFailed = () => undefined;
  const onBatch = (result: PutManyResult) => {
    done += result.succeeded;
  };
  const onOutcome: PutOutcomeCallback = (error) => {
    if (error === undefined) done += 1;
  };
  if (mode === 'put') {
    for (let i = 0; i < total; i++) {
      const bytes = recordBytes(i);
      while (!producer.hasCapacity(bytes)) await producer.waitForCapacity(bytes);
      producer.put({ partitionKey: KEYS[i % KEYS.length] as string, data: DATA }).then(onStored, onFailed);
      if (i % 2_000 === 0) await yieldToIo();
    }
  } else {
    // The same records (one object each), handed over BATCH at a time; the producer waits for room itself.
    for (let i = 0; i < total; ) {
      const records: ProducerRecord[] = [];
      for (const end = i + BATCH; i < end; i++)
        records.push({ partitionKey: KEYS[i % KEYS.length] as string, data: DATA });
      if (mode === 'putMany') {
        producer.putMany(records).then(onBatch, onFailed);
        while (!producer.hasCapacity(BATCH * 120)) await producer.waitForCapacity(BATCH * 120);
      } else {
        await producer.putEach(records, onOutcome);
      }
      if (i % 2_000 === 0) await yieldToIo();
    }
  }
  await producer.flush();
  const cpu = process.cpuUsage(cpuStart);
  const wallMs = Date.now() - wallStart;
  await producer.close();
  kinesis.destroy();
  return { records: done, cpuMs: (cpu.user + cpu.system) / 1_000, wallMs };
}

async function runLatency(
  sim: Simulator,
  ordered: boolean,
): Promise<{ p50: number; p99: number; rate: number; failed: number }> {
  const streamName = await newStream(sim);
  const kinesis = client(sim);
  const producer = new KinesisProducer({ client: kinesis, streamName, ordered });
  // Half the 4 shards' byte limit, in 100 B records plus their keys.
  const rate = Math.floor((0.5 * SHARDS * SHARD_BYTES) / recordBytes(5_000));
  const latencies: number[] = [];
  let failed = 0;
  const tickMs = 10;
  const perTick = Math.ceil((rate * tickMs) / 1_000);
  const end = Date.now() + SECONDS * 1_000;
  let i = 0;
  while (Date.now() < end) {
    const tickStart = Date.now();
    for (let n = 0; n < perTick; n++, i++) {
      const started = performance.now();
      const measure = Date.now() - end + SECONDS * 1_000 > WARMUP_MS;
      producer.put({ partitionKey: KEYS[i % KEYS.length] as string, data: DATA }).then(
        () => {
          if (measure) latencies.push(performance.now() - started);
        },
        () => {
          failed += 1;
        },
      );
    }
    await sleep(Math.max(0, tickMs - (Date.now() - tickStart)));
  }
  await producer.close();
  kinesis.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return { p50: at(0.5), p99: at(0.99), rate, failed };
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function runLimited(): Promise<void> {
  const limited = await startSimulator(true);
  const rows: Goodput[] = [];
  // `BENCH_ONLY=goodput` runs only this row (`BENCH_ORDERED=1`: the ordered one).
  rows.push(
    await runOurs(limited, process.env.BENCH_ONLY === 'goodput' && process.env.BENCH_ORDERED === '1'),
  );
  if (process.env.BENCH_ONLY === 'goodput') {
    limited.child.send({ type: 'stop' });
    console.log(rows[0]);
    return;
  }
  rows.push(await runOurs(limited, true));
  rows.push(await runHandWritten(limited));
  rows.push(await runAwsKinesisAgg(limited));
  const latency = await runLatency(limited, false);
  const latencyOrdered = await runLatency(limited, true);
  limited.child.send({ type: 'stop' });

  console.log('\nGoodput with real shard limits (1 MiB/s and 1,000 records/s per shard)\n');
  console.log(
    '| writer | user records/s per shard | payload MiB/s per shard | Kinesis-counted MiB/s per shard | % of 1 MiB/s (counted) | vs hand-written | lost | notes |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---|');
  const baseline = rows.find((r) => r.name.startsWith('hand-written'))?.userRecordsPerSecond ?? 1;
  for (const row of rows) {
    const perShard = row.userRecordsPerSecond / SHARDS;
    const mibPerShard = row.payloadBytesPerSecond / SHARDS / SHARD_BYTES;
    const wirePerShard = row.wireBytesPerSecond / SHARDS / SHARD_BYTES;
    console.log(
      `| ${row.name} | ${fmt(perShard)} | ${fmt(mibPerShard, 2)} | ${fmt(wirePerShard, 2)} | ${fmt(wirePerShard * 100, 0)}% | ${fmt(row.userRecordsPerSecond / baseline, 1)}x | ${row.lost} | ${row.note} |`,
    );
  }
  console.log(
    `\nLatency from put to settle at 50% of capacity (${fmt(latency.rate)} records/s over ${SHARDS} shards)\n`,
  );
  console.log('| mode | p50 ms | p99 ms | failed |');
  console.log('|---|---:|---:|---:|');
  console.log(`| unordered | ${fmt(latency.p50, 1)} | ${fmt(latency.p99, 1)} | ${latency.failed} |`);
  console.log(
    `| ordered | ${fmt(latencyOrdered.p50, 1)} | ${fmt(latencyOrdered.p99, 1)} | ${latencyOrdered.failed} |`,
  );
}

const MiB = 1_048_576;
// Large records: 1 to 10 MiB (cycling), on a stream that allows 10 MiB, over a long window (one 10 MiB
// record spends ten seconds of a shard).
const LARGE_SHARDS = 2;
const LARGE_SECONDS = Number(process.env.BENCH_LARGE_SECONDS ?? 65);
const LARGE_WARMUP_MS = 5_000;
const LARGE_DATA = Array.from({ length: 10 }, (_, i) => Buffer.alloc((i + 1) * MiB - 64, i + 1));
// Record i goes to shard i % LARGE_SHARDS (by explicit hash key) with size (i / LARGE_SHARDS) % 10 + 1 MiB, so
// every shard sees the sizes in turn and a window holds consecutive ones.
const largeRecord = (i: number) => ({
  partitionKey: `large-${i}`,
  explicitHashKey: ((BigInt(i % LARGE_SHARDS) << 128n) / BigInt(LARGE_SHARDS) + 1n).toString(),
  data: LARGE_DATA[Math.floor(i / LARGE_SHARDS) % LARGE_DATA.length] as Buffer,
});

interface LargeRow {
  name: string;
  mibPerShard: number;
  stored: number;
  lost: number;
  note: string;
}

async function largeStream(sim: Simulator): Promise<string> {
  streamCounter += 1;
  const streamName = `bench-large-${streamCounter}`;
  await request(
    sim,
    { type: 'createStream', streamName, shardCount: LARGE_SHARDS, maxRecordSizeInKiB: 10_240 },
    'created',
  );
  return streamName;
}

/** Kinesis-counted bytes accepted between the warm-up and the end, per second per shard, in MiB. */
async function largeWindow(sim: Simulator, run: (end: number) => Promise<void>): Promise<number> {
  const stats = () =>
    request<{ stats: { acceptedBytes: number }; at: number }>(sim, { type: 'stats' }, 'stats');
  let start = stats();
  let stop = stats();
  setTimeout(() => {
    start = stats();
  }, LARGE_WARMUP_MS);
  setTimeout(() => {
    stop = stats();
  }, LARGE_SECONDS * 1_000);
  await run(Date.now() + LARGE_SECONDS * 1_000);
  const [a, b] = [await start, await stop];
  return ((b.stats.acceptedBytes - a.stats.acceptedBytes) * 1_000) / (b.at - a.at) / LARGE_SHARDS / MiB;
}

async function runLargeOurs(sim: Simulator): Promise<LargeRow> {
  const streamName = await largeStream(sim);
  const kinesis = client(sim);
  const producer = new KinesisProducer({ client: kinesis, streamName });
  let stored = 0;
  let failed = 0;
  let i = 0;
  const mibPerShard = await largeWindow(sim, async (end) => {
    while (Date.now() < end) {
      const record = largeRecord(i);
      const bytes = record.data.length + record.partitionKey.length;
      if (!producer.hasCapacity(bytes)) {
        await Promise.race([producer.waitForCapacity(bytes), sleep(200)]);
        continue;
      }
      producer.put(record).then(
        () => {
          stored += 1;
        },
        () => {
          failed += 1;
        },
      );
      i += 1;
    }
  });
  await producer.close();
  kinesis.destroy();
  const m = producer.metrics();
  return {
    name: 'shardline producer',
    mibPerShard,
    stored,
    lost: failed + (m.UserRecordsReceived - m.UserRecordsPut - m.UserRecordsFailed),
    note: `${m.ErrorsByCode.ProvisionedThroughputExceededException ?? 0} throttled; waits out a large record's share of the average (docs: bursts to 10 MiB, averages 1 MiB/s)`,
  };
}

/** One record per PutRecords call per shard, retried after 100 ms on throttling: what hand-written code does. */
async function runLargeHandWritten(sim: Simulator): Promise<LargeRow> {
  const streamName = await largeStream(sim);
  const kinesis = client(sim);
  let stored = 0;
  let throttled = 0;
  const mibPerShard = await largeWindow(sim, async (end) => {
    const worker = async (shard: number) => {
      for (let n = 0; Date.now() < end; n++) {
        const { partitionKey, explicitHashKey, data } = largeRecord(n * LARGE_SHARDS + shard);
        for (let attempt = 0; attempt < 100 && Date.now() < end + 30_000; attempt++) {
          const response = await kinesis.send(
            new PutRecordsCommand({
              StreamName: streamName,
              Records: [{ PartitionKey: partitionKey, ExplicitHashKey: explicitHashKey, Data: data }],
            }),
          );
          if (!response.Records?.[0]?.ErrorCode) {
            stored += 1;
            break;
          }
          throttled += 1;
          await sleep(100);
        }
      }
    };
    await Promise.all(Array.from({ length: LARGE_SHARDS }, (_, shard) => worker(shard)));
  });
  kinesis.destroy();
  return {
    name: 'hand-written PutRecords loop',
    mibPerShard,
    stored,
    lost: 0,
    note: `${throttled} throttled calls; ${LARGE_SHARDS} loops, one record per call`,
  };
}

async function runLarge(): Promise<void> {
  const sim = await startSimulator(true);
  const rows = [await runLargeOurs(sim), await runLargeHandWritten(sim)];
  sim.child.send({ type: 'stop' });
  console.log(
    `\nLarge records (1-10 MiB, cycling) on a stream allowing 10 MiB, ${LARGE_SHARDS} shards, ${LARGE_SECONDS} s (${LARGE_WARMUP_MS / 1_000} s warm-up)\n`,
  );
  console.log(
    '| writer | Kinesis-counted MiB/s per shard | % of 1 MiB/s | vs hand-written | records stored | lost | notes |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---|');
  const base = rows[1]?.mibPerShard ?? 1;
  for (const row of rows) {
    console.log(
      `| ${row.name} | ${fmt(row.mibPerShard, 2)} | ${fmt(row.mibPerShard * 100, 0)}% | ${fmt(row.mibPerShard / base, 2)}x | ${row.stored} | ${row.lost} | ${row.note} |`,
    );
  }
}

async function main(): Promise<void> {
  console.log(
    `producer benchmark: ${SHARDS} shards, ${DATA.length} B records, ${SECONDS} s per run (${WARMUP_MS / 1_000} s warm-up)`,
  );
  if (process.env.BENCH_ONLY === 'large') return runLarge();
  if (!ONLY_CPU) await runLimited();
  if (process.env.BENCH_ONLY === 'goodput') return;
  if (!ONLY_CPU) await runLarge();
  const unlimited = await startSimulator(false);
  // Interleaved rounds (put, putMany, putEach, put, ...) so machine noise spreads over every path alike.
  const rounds = Number(process.env.BENCH_CPU_ROUNDS ?? 3);
  // `BENCH_CPU_MODES=putEach` (comma-separated) runs only those paths, `BENCH_CPU_ORDERED=0` only unordered.
  const modes = (process.env.BENCH_CPU_MODES ?? 'put,putMany,putEach').split(',') as CpuMode[];
  const orderings = process.env.BENCH_CPU_ORDERED === '0' ? [false] : [false, true];
  const runs = new Map<string, Array<{ records: number; cpuMs: number; wallMs: number }>>();
  for (let round = 0; round < rounds; round++) {
    for (const ordered of orderings) {
      for (const mode of modes) {
        const name = `${mode}${ordered ? ', ordered' : ''}`;
        runs.set(name, [...(runs.get(name) ?? []), await runCpu(unlimited, ordered, mode)]);
      }
    }
  }
  unlimited.child.send({ type: 'stop' });
  console.log(
    `\nClient CPU per user record (simulator without limits, in its own process; ${rounds} interleaved rounds)\n`,
  );
  console.log(
    '| path | user records | client CPU ms (median) | µs CPU per record | records per CPU-second (median) | every run | vs put | wall records/s |',
  );
  console.log('|---|---:|---:|---:|---:|---|---:|---:|');
  const rate = (r: { records: number; cpuMs: number }) => r.records / (r.cpuMs / 1_000);
  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] as number;
  };
  for (const [name, list] of runs) {
    const byRate = [...list].sort((a, b) => rate(a) - rate(b));
    const mid = byRate[Math.floor(byRate.length / 2)] as (typeof list)[number];
    const base = median((runs.get(name.endsWith('ordered') ? 'put, ordered' : 'put') ?? []).map(rate));
    console.log(
      `| ${name} | ${fmt(mid.records)} | ${fmt(mid.cpuMs)} | ${fmt((mid.cpuMs * 1_000) / mid.records, 2)} | ${fmt(rate(mid))} | ${list.map((r) => fmt(rate(r) / 1_000)).join(', ')} k | ${fmt(rate(mid) / base, 2)}x | ${fmt(mid.records / (mid.wallMs / 1_000))} |`,
    );
  }
}

await main();
