/**
 * `pnpm demo`: a whole producer -> stream -> consumers pipeline on the embedded local stack (or real AWS
 * with --aws). Many small records are aggregated onto a 4-shard stream while 3 worker processes share the
 * shards through one lease table; part way through a shard is split, two are merged, one worker is
 * SIGKILLed and later replaced. At the end every record is checked: consumed, in order per key, and the
 * duplicates explained. Exits 0 only when that holds; stops everything it started, also on Ctrl-C.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeleteTableCommand, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { DeleteStreamCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { KinesisProducer } from '@shardline/producer';
import {
  createStream,
  type KinesisSimulator,
  type LocalStack,
  listAllShards,
  startKinesisSimulator,
  startLocalStack,
} from '@shardline/testkit';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { mergeLastTwoShards, splitFirstShard } from './chaos.js';
import { type DemoFlags, FlagError, parseFlags, USAGE } from './flags.js';
import { WORKER_CONFIG_ENV, type WorkerConfig, type WorkerMessage } from './protocol.js';
import { type Delivery, type Produced, verify } from './verify.js';
import { LiveView, type ShardRow, type WorkerRow } from './view.js';

const KEYS = 40;
const FAILOVER_MS = 3_000;

interface Worker {
  id: string;
  child: ChildProcess;
  state: WorkerRow['state'];
  leases: number;
  records: number;
  lag: Record<string, number | undefined>;
  exited: Promise<void>;
}

async function run(flags: DemoFlags, abort: AbortSignal): Promise<number> {
  const started = Date.now();
  const elapsed = (): number => Date.now() - started;
  const view = new LiveView();
  const suffix = randomBytes(3).toString('hex');
  const streamName = flags.aws ? `shardline-demo-${suffix}` : 'shardline-demo';
  const applicationName = `shardline-demo-${suffix}`;
  const cleanups: Array<() => Promise<unknown>> = [];

  let stack: LocalStack | undefined;
  /** With --fan-out locally: serves the stream (kinesis-local speaks no HTTP/2, which SubscribeToShard needs). */
  let simulator: KinesisSimulator | undefined;
  let kinesis: KinesisClient;
  let dynamoDB: DynamoDBClient;
  if (flags.aws) {
    const regionConfig = flags.region ? { region: flags.region } : {};
    // HTTP/1.1, as the KPL uses: the same client then also works against an endpoint override
    // (AWS_ENDPOINT_URL_KINESIS) that speaks only HTTP/1.1, as kinesis-local does.
    // Bounded requests, so cleanup cannot hang on an unreachable endpoint: `requestTimeout` alone only logs
    // a warning; `throwOnRequestTimeout` fails a request with no response, `socketTimeout` one that stalls.
    const requestHandler = (): NodeHttpHandler =>
      new NodeHttpHandler({
        connectionTimeout: 5_000,
        requestTimeout: 30_000,
        throwOnRequestTimeout: true,
        socketTimeout: 30_000,
      });
    kinesis = new KinesisClient({ ...regionConfig, requestHandler: requestHandler() });
    dynamoDB = new DynamoDBClient({ ...regionConfig, requestHandler: requestHandler() });
    console.log(
      `running against real AWS (${await kinesis.config.region()}): this creates the Kinesis stream ` +
        `${streamName} (${flags.shards} shards) and the DynamoDB table ${applicationName}, and deletes both at the end`,
    );
    cleanups.push(async () => {
      await kinesis.send(new DeleteStreamCommand({ StreamName: streamName, EnforceConsumerDeletion: true }));
      await dynamoDB.send(new DeleteTableCommand({ TableName: applicationName })).catch(() => undefined);
      console.log(`deleted stream ${streamName} and table ${applicationName}`);
    });
  } else {
    console.log('starting the embedded local stack (kinesis-local + dynalite on 127.0.0.1)...');
    stack = await startLocalStack();
    console.log(
      `  kinesis-local (pid ${stack.kinesisPid}) ${stack.endpoints.kinesisEndpoint}, dynalite ${stack.endpoints.dynamoDBEndpoint}`,
    );
    kinesis = stack.kinesis;
    dynamoDB = stack.dynamoDB;
    if (flags.fanOut) {
      simulator = await startKinesisSimulator({ region: stack.endpoints.region });
      simulator.createStream(streamName, flags.shards);
      kinesis = simulator.createClient();
      console.log(`  fan-out: the stream is served by the Kinesis simulator ${simulator.endpoint} (HTTP/2)`);
    }
  }

  const workers = new Map<string, Worker>();
  const deliveries: Delivery[] = [];
  const consumedIds = new Set<string>();
  const produced: Produced[] = [];
  let producer: KinesisProducer | undefined;

  try {
    if (!simulator) await createStream(kinesis, { streamName, shardCount: flags.shards, timeoutMs: 300_000 });
    view.event(
      elapsed(),
      `created stream ${streamName} with ${flags.shards} shards; lease table ${applicationName}; ` +
        (flags.fanOut
          ? `consumers read with enhanced fan-out (stream consumer ${applicationName})`
          : 'consumers poll'),
    );

    let nextWorker = 1;
    const startWorker = (): Worker => {
      const id = `w${nextWorker++}`;
      const config: WorkerConfig = {
        workerId: id,
        streamName,
        applicationName,
        local: stack && {
          ...stack.endpoints,
          ...(simulator ? { kinesisEndpoint: simulator.endpoint } : {}),
        },
        region: flags.region,
        failoverTimeMs: FAILOVER_MS,
        fanOutConsumerName: flags.fanOut ? applicationName : undefined,
      };
      // worker.js when built, worker.ts when run from source (fork passes this process's --import tsx on).
      const child = fork(new URL(`./worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url), [], {
        serialization: 'advanced',
        env: { ...process.env, [WORKER_CONFIG_ENV]: JSON.stringify(config) },
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      });
      const worker: Worker = {
        id,
        child,
        state: 'running',
        leases: 0,
        records: 0,
        lag: {},
        exited: new Promise((resolve) => child.once('exit', () => resolve())),
      };
      child.on('message', (message: WorkerMessage) => {
        if (message.type === 'deliveries') {
          for (const d of message.deliveries) {
            deliveries.push(d);
            consumedIds.add(d.id);
          }
        } else if (message.type === 'metrics') {
          worker.leases = message.leasesHeld;
          worker.records = message.recordsProcessed;
          worker.lag = message.lagByShard;
        }
      });
      child.once('exit', () => {
        if (worker.state === 'running') worker.state = 'stopped';
      });
      workers.set(id, worker);
      view.event(elapsed(), `started worker ${id} (pid ${child.pid})`);
      return worker;
    };
    cleanups.push(() => stopWorkers([...workers.values()]));
    for (let i = 0; i < flags.workers; i++) startWorker();

    producer = new KinesisProducer({ client: kinesis, streamName, ordered: true });
    const pending: Array<Promise<unknown>> = [];
    let failedPuts = 0;
    let acknowledged = 0;

    // The lease table, read the way any operator could: a Scan, once a second.
    let leaseRows = new Map<string, { owner: string; checkpoint: string }>();
    let openShards = new Set<string>();
    let allShards: string[] = [];
    const refreshTables = async (): Promise<void> => {
      try {
        const scan = await dynamoDB.send(
          new ScanCommand({ TableName: applicationName, ConsistentRead: true }),
        );
        leaseRows = new Map(
          (scan.Items ?? []).map((item) => [
            item.leaseKey?.S ?? '?',
            { owner: item.leaseOwner?.S ?? '-', checkpoint: item.checkpoint?.S ?? '-' },
          ]),
        );
      } catch {
        // The first worker creates the table; until then there is nothing to show.
      }
      const shards = await listAllShards(kinesis, streamName);
      allShards = shards.map((s) => s.ShardId ?? '?');
      openShards = new Set(
        shards.filter((s) => !s.SequenceNumberRange?.EndingSequenceNumber).map((s) => s.ShardId ?? '?'),
      );
    };
    const snapshot = () => {
      const metrics = producer?.metrics();
      const lagOf = (shardId: string): number | undefined => {
        for (const w of workers.values())
          if (w.state === 'running' && shardId in w.lag) return w.lag[shardId];
        return undefined;
      };
      const shards: ShardRow[] = allShards.map((shardId) => ({
        shardId,
        open: openShards.has(shardId),
        owner: leaseRows.get(shardId)?.owner ?? '-',
        checkpoint: leaseRows.get(shardId)?.checkpoint ?? '-',
        lagMs: lagOf(shardId),
      }));
      return {
        elapsedMs: elapsed(),
        produced: produced.length,
        acknowledged,
        target: flags.records,
        consumedUnique: consumedIds.size,
        deliveries: deliveries.length,
        retries: metrics?.RetriesPerRecord.sum ?? 0,
        throttles: Object.values(metrics?.ThrottlesByShard ?? {}).reduce((a, b) => a + b, 0),
        failedPuts,
        shards,
        workers: [...workers.values()].map((w) => ({
          workerId: w.id,
          pid: w.child.pid,
          state: w.state,
          leases: w.state === 'running' ? w.leases : 0,
          records: w.records,
        })),
      };
    };
    let refreshing: Promise<void> = refreshTables();
    const ticker = setInterval(() => {
      view.render(snapshot());
      refreshing = refreshing.then(refreshTables, refreshTables);
    }, 250);
    cleanups.push(async () => {
      clearInterval(ticker);
      await refreshing;
    });

    // Chaos, keyed to production progress.
    let killedWorker: string | undefined;
    const chaos: Array<{ at: number; act: () => Promise<string> }> = flags.chaos
      ? [
          { at: 0.25, act: () => splitFirstShard(kinesis, streamName) },
          { at: 0.4, act: () => mergeLastTwoShards(kinesis, streamName) },
          {
            at: 0.55,
            act: async () => {
              const victim = [...workers.values()].find((w) => w.state === 'running');
              if (!victim) return 'no worker to kill';
              const held = [...leaseRows]
                .filter(([, row]) => row.owner === victim.id)
                .map(([shard]) => shard);
              killedWorker = victim.id;
              victim.state = 'killed';
              victim.child.kill('SIGKILL');
              return `SIGKILL worker ${victim.id} (pid ${victim.child.pid}); it held ${held.join(', ') || 'no leases'}`;
            },
          },
          {
            at: 0.75,
            act: async () => `replacement ${startWorker().id} started`,
          },
        ]
      : [];
    // One step at a time: when production catches up after a stall, several steps fall due at once, and a
    // merge started while the split is still in progress fails (the stream is not ACTIVE).
    let chaosRuns: Promise<void> = Promise.resolve();

    // Produce at a steady rate, waiting for buffer capacity rather than for acknowledgements.
    const perKey = new Map<string, number>();
    const tickMs = 50;
    const perTick = Math.max(1, Math.round((flags.rate * tickMs) / 1000));
    const productionStart = Date.now();
    for (let i = 0; i < flags.records && !abort.aborted; i++) {
      if (i % perTick === 0) {
        const due = productionStart + (i / perTick) * tickMs;
        const wait = due - Date.now();
        if (wait > 0) await sleep(wait);
        while (chaos[0] && i >= chaos[0].at * flags.records) {
          const step = chaos.shift();
          if (!step) break;
          chaosRuns = chaosRuns.then(() =>
            step.act().then(
              (text) => view.event(elapsed(), text),
              (error: unknown) => view.event(elapsed(), `chaos step failed: ${String(error)}`),
            ),
          );
        }
      }
      const key = `user-${i % KEYS}`;
      const n = perKey.get(key) ?? 0;
      perKey.set(key, n + 1);
      const id = `r${i}`;
      produced.push({ id, key, ordinal: n });
      const data = Buffer.from(JSON.stringify({ id, key, n, pad: 'x'.repeat(40) }));
      await producer.waitForCapacity(data.length);
      pending.push(
        producer.put({ partitionKey: key, data }).then(
          () => {
            acknowledged += 1;
          },
          () => {
            failedPuts += 1;
          },
        ),
      );
    }
    await producer.flush();
    await Promise.all(pending);
    await chaosRuns;
    if (!abort.aborted) {
      view.event(
        elapsed(),
        `produced ${acknowledged} records (${failedPuts} failed); waiting for the consumers`,
      );
    }

    const drainDeadline = Date.now() + flags.drainTimeoutMs;
    while (!abort.aborted && consumedIds.size < acknowledged && Date.now() < drainDeadline) await sleep(100);
    view.render(snapshot());
    view.clear();

    const producerMetrics = producer.metrics();
    await producer.close();
    producer = undefined;
    const stopStart = Date.now();
    await stopWorkers([...workers.values()]);
    if (abort.aborted) return 130;
    console.log(`stopped the workers gracefully (leases released) in ${Date.now() - stopStart} ms`);

    const result = verify(produced, deliveries);
    const seconds = (elapsed() / 1000).toFixed(1);
    console.log('\n== summary');
    console.log(
      `  produced ${result.produced} user records as ${producerMetrics.KinesisRecordsPut} Kinesis records ` +
        `(${producerMetrics.UserRecordsPerKinesisRecord.average.toFixed(1)} per aggregate), ${failedPuts} failed`,
    );
    console.log(
      `  consumed ${result.consumed} unique records, ${result.duplicates} duplicates, in ${seconds} s`,
    );
    console.log(
      `  missing: ${result.missing.length}${result.missing.length ? ` (first: ${result.missing.slice(0, 5).join(', ')})` : ''}`,
    );
    console.log(
      `  per-key order across parent and child shards: ${result.orderViolations.length === 0 ? 'held' : `broken for ${result.orderViolations.length} keys`}`,
    );
    for (const v of result.orderViolations.slice(0, 5)) {
      console.log(`    ${v.key}: expected #${v.expected} next, got #${v.got}`);
    }
    if (result.duplicates > 0) {
      console.log('  why duplicates (processing is at-least-once):');
      if (result.duplicatesOutOfRange > 0) {
        console.log(
          `    ${String(result.duplicatesOutOfRange).padStart(6)}  a reshard caught their aggregate: the producer re-sent them to the shard that owns their key, and the consumer also delivered them (flagged outOfRange) where they first landed`,
        );
      }
      if (result.duplicatesInStream > 0) {
        console.log(
          `    ${String(result.duplicatesInStream).padStart(6)}  two copies in the stream: the producer retried a PutRecords whose answer it did not get (a timeout under load) although the write had landed`,
        );
      }
      for (const [pair, count] of Object.entries(result.duplicatesByWorkers)) {
        const [first, again] = pair.split('->');
        const reason =
          first === again
            ? 'the same worker processed them again (a batch retried after a failed checkpoint)'
            : first === killedWorker
              ? `${first} was SIGKILLed after processing them, before its next checkpoint; ${again} took over its lease`
              : `${again} got the lease from ${first} without a graceful handoff (it expired), resuming at the last checkpoint`;
        console.log(`    ${String(count).padStart(6)}  ${reason}`);
      }
    }
    const fromBalancing = Object.entries(result.duplicatesByWorkers)
      .filter(([pair]) => {
        const [first, again] = pair.split('->');
        return first !== again && first !== killedWorker;
      })
      .reduce((n, [, count]) => n + count, 0);
    console.log(`  duplicates from balancing (leases move by graceful handoff): ${fromBalancing}`);
    console.log(result.ok ? '\nverified: nothing lost, order held' : '\nverification FAILED');
    return result.ok && failedPuts === 0 ? 0 : 1;
  } finally {
    if (producer) await producer.close().catch(() => undefined);
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await simulator?.stop();
    await stack?.stop();
    if (!flags.aws) console.log('local stack stopped');
  }
}

/** Asks each worker to stop gracefully; SIGKILL after a bound. Never hangs. */
async function stopWorkers(list: Worker[]): Promise<void> {
  await Promise.all(
    list.map(async (w) => {
      if (w.child.exitCode !== null || w.child.signalCode !== null) return;
      if (w.child.connected) w.child.send({ type: 'stop' });
      else w.child.kill('SIGTERM');
      const exited = await Promise.race([w.exited.then(() => true), sleep(10_000).then(() => false)]);
      if (!exited) {
        w.child.kill('SIGKILL');
        await Promise.race([w.exited, sleep(2_000)]);
      }
      if (w.state === 'running') w.state = 'stopped';
    }),
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function main(): Promise<void> {
  let flags: DemoFlags;
  try {
    flags = parseFlags(process.argv.slice(2).filter((arg) => arg !== '--'));
  } catch (error) {
    console.error(error instanceof FlagError || error instanceof TypeError ? error.message : error);
    console.error(USAGE);
    process.exitCode = 2;
    return;
  }
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  const abort = new AbortController();
  const onSignal = (): void => {
    if (abort.signal.aborted) return;
    console.log('\ninterrupted: stopping workers, producer and local stack...');
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    process.exitCode = await run(flags, abort.signal);
  } catch (error) {
    console.error('demo failed:', error);
    process.exitCode = 1;
  }
}

await main();
