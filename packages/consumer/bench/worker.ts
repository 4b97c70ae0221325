// One consumer worker as an OS process for the failover benchmark (not a benchmark itself). Prints JSON
// lines: {type:'acquired'|'record'|'started'|'heartbeat'|'liveWorkers', shardId?, count?, at}. Config in
// SHARDLINE_WORKER (JSON). `heartbeat` is logged when this worker's heartbeat write has landed and
// `liveWorkers` whenever the number of workers it sees alive changes, so the benchmark can split a failover
// into its phases (where in the heartbeat cycle the kill fell, death detected, lease taken, batch processed).
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
const workerTable = `${config.applicationName}-Workers`;
stack.dynamoDB.middlewareStack.add(
  (next, context) => async (args) => {
    const result = await next(args);
    const table = (args.input as { TableName?: string }).TableName;
    if (context.commandName === 'UpdateItemCommand' && table === workerTable) log({ type: 'heartbeat' });
    return result;
  },
  { step: 'initialize', name: 'benchHeartbeatLog' },
);
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
let live = 0;
setInterval(() => {
  const count = consumer.metrics().liveWorkers;
  if (count !== live) log({ type: 'liveWorkers', count });
  live = count;
}, 10);
