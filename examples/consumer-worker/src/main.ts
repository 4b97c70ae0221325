/**
 * A long-running consumer worker. Run as many copies as you like, on as many machines: they share the
 * shards through the DynamoDB lease table named by APPLICATION_NAME.
 *
 * Environment: STREAM_NAME and APPLICATION_NAME (required), INITIAL_POSITION (TRIM_HORIZON or LATEST,
 * default LATEST), METRICS_INTERVAL_MS (default 10,000), STOP_TIMEOUT_MS (default 20,000), the standard AWS
 * SDK region and credential chain, and KINESIS_ENDPOINT / DYNAMODB_ENDPOINT for a local stack.
 *
 * On SIGTERM or SIGINT it finishes the batch in flight, checkpoints, releases its leases (so other workers
 * take them at once instead of waiting for them to expire) and exits 0.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { KinesisConsumer } from '@shardline/consumer';
import { NodeHttpHandler } from '@smithy/node-http-handler';

const streamName = process.env.STREAM_NAME;
const applicationName = process.env.APPLICATION_NAME;
if (!streamName || !applicationName) {
  console.error('set STREAM_NAME and APPLICATION_NAME');
  process.exit(2);
}
const initialPosition = process.env.INITIAL_POSITION === 'TRIM_HORIZON' ? 'TRIM_HORIZON' : 'LATEST';
const metricsIntervalMs = Number(process.env.METRICS_INTERVAL_MS ?? 10_000);
const stopTimeoutMs = Number(process.env.STOP_TIMEOUT_MS ?? 20_000);

// Plain HTTP/1.1 with real timeouts, against AWS and a local endpoint alike. The SDK's default Kinesis
// handler is HTTP/2, which local HTTP/1.1 endpoints (kinesis-local) do not serve reliably, and no SDK handler
// has a timeout by default: a GetRecords or lease-table call that never answers would stall a shard. With
// @smithy/node-http-handler 4.x `requestTimeout` alone only logs a warning: `throwOnRequestTimeout` fails a
// request whose response never begins, `socketTimeout` one that stalls. The consumer retries such failures.
const requestHandler = (): NodeHttpHandler =>
  new NodeHttpHandler({
    connectionTimeout: 5_000,
    requestTimeout: 30_000,
    throwOnRequestTimeout: true,
    socketTimeout: 30_000,
  });
const kinesisClient = new KinesisClient({
  ...(process.env.KINESIS_ENDPOINT ? { endpoint: process.env.KINESIS_ENDPOINT } : {}),
  requestHandler: requestHandler(),
});
const dynamoDBClient = new DynamoDBClient({
  ...(process.env.DYNAMODB_ENDPOINT ? { endpoint: process.env.DYNAMODB_ENDPOINT } : {}),
  requestHandler: requestHandler(),
});
const decoder = new TextDecoder();

const consumer = new KinesisConsumer({
  kinesisClient,
  dynamoDBClient,
  streamName,
  applicationName,
  initialPosition,
  // The plain handler: when it resolves the batch is checkpointed; when it throws the batch is retried.
  processor: async (records, { shardId }) => {
    for (const record of records) {
      // Your logic here. Keep it idempotent: after a crash, records since the last checkpoint come again.
      void decoder.decode(record.data);
    }
    log({ event: 'batch', shardId, records: records.length });
  },
});

consumer.on('leaseAcquired', ({ shardId, stolen }) => log({ event: 'leaseAcquired', shardId, stolen }));
consumer.on('leaseLost', ({ shardId, reason }) => log({ event: 'leaseLost', shardId, reason }));
consumer.on('processingError', ({ shardId, attempt, willRetry, error }) =>
  log({ event: 'processingError', shardId, attempt, willRetry, code: error.code }),
);
consumer.on('error', ({ operation, shardId }) => log({ event: 'backgroundError', operation, shardId }));

function log(fields: Record<string, unknown>): void {
  console.log(JSON.stringify({ time: new Date().toISOString(), ...fields }));
}

const metricsTimer = setInterval(() => {
  const m = consumer.metrics();
  log({
    event: 'metrics',
    workerId: m.workerId,
    leasesHeld: m.leasesHeld,
    recordsProcessed: m.recordsProcessed,
    bytesProcessed: m.bytesProcessed,
    checkpoints: m.checkpoints,
    millisBehindLatest: Object.fromEntries(m.shards.map((s) => [s.shardId, s.millisBehindLatest])),
  });
}, metricsIntervalMs);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log({ event: 'stopping', signal });
  clearInterval(metricsTimer);
  await consumer.stop({ timeoutMs: stopTimeoutMs });
  const m = consumer.metrics();
  log({ event: 'stopped', recordsProcessed: m.recordsProcessed, leasesReleased: m.leasesReleased });
  kinesisClient.destroy();
  dynamoDBClient.destroy();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

await consumer.start();
log({ event: 'started', workerId: consumer.metrics().workerId });
