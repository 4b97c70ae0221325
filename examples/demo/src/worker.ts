/**
 * One consumer worker of the demo, in its own OS process, as it would run on its own machine: it shares
 * nothing with the other workers but the stream and the DynamoDB lease table. It reports every delivered
 * record to the demo (before the batch is checkpointed, so a crash can only cause re-deliveries, never
 * gaps) and a metrics snapshot twice a second.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { KinesisConsumer } from '@shardline/consumer';
import { connectLocalStack, LOCAL_CREDENTIALS } from '@shardline/testkit';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { ParentMessage, WorkerConfig, WorkerMessage } from './protocol.js';
import { WORKER_CONFIG_ENV } from './protocol.js';
import type { Delivery } from './verify.js';

const raw = process.env[WORKER_CONFIG_ENV];
if (!raw || !process.send) {
  console.error('worker.js is started by the demo (pnpm demo), not by hand');
  process.exit(2);
}
const config = JSON.parse(raw) as WorkerConfig;
const decoder = new TextDecoder();

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected || !process.send) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

const local = config.local ? connectLocalStack(config.local) : undefined;
const fanOut = config.fanOutConsumerName;
// Against AWS: HTTP/1.1 with bounded requests (the same client also works against an endpoint override).
// `requestTimeout` alone only logs a warning: `throwOnRequestTimeout` and `socketTimeout` make them fail.
const requestHandler = (): NodeHttpHandler =>
  new NodeHttpHandler({
    connectionTimeout: 5_000,
    requestTimeout: 30_000,
    throwOnRequestTimeout: true,
    socketTimeout: 30_000,
  });
const region = config.region ? { region: config.region } : {};
// Fan-out needs HTTP/2: the SDK's default handler (NodeHttp2Handler), also against the local simulator.
const kinesisClient = fanOut
  ? new KinesisClient(
      config.local
        ? {
            endpoint: config.local.kinesisEndpoint,
            region: config.local.region,
            credentials: LOCAL_CREDENTIALS,
          }
        : region,
    )
  : (local?.kinesis ?? new KinesisClient({ ...region, requestHandler: requestHandler() }));
const dynamoDBClient = local?.dynamoDB ?? new DynamoDBClient({ ...region, requestHandler: requestHandler() });

const consumer = new KinesisConsumer({
  kinesisClient,
  dynamoDBClient,
  streamName: config.streamName,
  applicationName: config.applicationName,
  workerId: config.workerId,
  initialPosition: 'TRIM_HORIZON',
  failoverTimeMs: config.failoverTimeMs,
  takerIntervalMs: Math.round(config.failoverTimeMs / 4),
  shardSyncIntervalMs: 5_000,
  parentPollIntervalMs: 250,
  idleTimeBetweenReadsMs: 250,
  retrieval: fanOut ? { mode: 'fan-out', consumerName: fanOut } : { mode: 'polling' },
  // The plain handler form: the batch is checkpointed when this resolves.
  processor: async (records, context) => {
    const deliveries: Delivery[] = records.map((record) => {
      const body = JSON.parse(decoder.decode(record.data)) as { id: string; key: string; n: number };
      return {
        id: body.id,
        key: body.key,
        ordinal: body.n,
        shardId: context.shardId,
        workerId: config.workerId,
        at: process.hrtime.bigint(),
        sequenceNumber: record.sequenceNumber,
        subSequenceNumber: record.subSequenceNumber,
        ...(record.outOfRange === true ? { outOfRange: true } : {}),
      };
    });
    await send({ type: 'deliveries', deliveries });
  },
});

const metricsTimer = setInterval(() => {
  const m = consumer.metrics();
  void send({
    type: 'metrics',
    workerId: config.workerId,
    leasesHeld: m.leasesHeld,
    recordsProcessed: m.recordsProcessed,
    checkpoints: m.checkpoints,
    leasesTaken: m.leasesTaken,
    leasesStolen: m.leasesStolen,
    leasesLost: m.leasesLost,
    getRecordsThrottles: m.getRecordsThrottles,
    processingErrors: m.processingErrors,
    lagByShard: Object.fromEntries(m.shards.map((s) => [s.shardId, s.millisBehindLatest])),
  });
}, 500);

let stopping: Promise<void> | undefined;
function stop(): Promise<void> {
  stopping ??= (async () => {
    clearInterval(metricsTimer);
    await consumer.stop({ timeoutMs: 5_000 });
    local?.destroy();
    if (!local || fanOut) kinesisClient.destroy();
    if (!local) dynamoDBClient.destroy();
    await send({ type: 'stopped', workerId: config.workerId });
    process.disconnect?.();
  })();
  return stopping;
}

process.on('message', (message: ParentMessage) => {
  if (message.type === 'stop') void stop();
});
// Ctrl-C reaches the whole process group; the demo also asks explicitly. Either way: stop gracefully.
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
process.on('disconnect', () => void stop());

await consumer.start();
