// One consumer worker as an OS process for the failover benchmark (not a benchmark itself). Prints JSON
// lines: {type:'acquired'|'record'|'started', shardId, at}. Config in SHARDLINE_WORKER (JSON).
import { connectLocalStack, type LocalStackEndpoints } from '@shardline/testkit';
import { KinesisConsumer } from '../src/index.js';

interface WorkerConfig {
  endpoints: LocalStackEndpoints;
  streamName: string;
  applicationName: string;
  workerId: string;
  failoverTimeMs: number;
}

const config = JSON.parse(process.env.SHARDLINE_WORKER ?? '{}') as WorkerConfig;
const stack = connectLocalStack(config.endpoints);
const log = (line: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify({ worker: config.workerId, at: Date.now(), ...line })}\n`);
};
const consumer = new KinesisConsumer({
  kinesisClient: stack.kinesis,
  dynamoDBClient: stack.dynamoDB,
  streamName: config.streamName,
  applicationName: config.applicationName,
  workerId: config.workerId,
  initialPosition: 'TRIM_HORIZON',
  failoverTimeMs: config.failoverTimeMs,
  idleTimeBetweenReadsMs: 200,
  processor: async (records, { shardId }) => {
    if (records.length > 0) log({ type: 'record', shardId });
  },
});
consumer.on('leaseAcquired', ({ shardId }) => log({ type: 'acquired', shardId }));
await consumer.start();
log({ type: 'started' });
