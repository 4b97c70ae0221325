// Runs the testkit's Kinesis simulator in its own process for the producer benchmark, so the benchmark
// process measures only the client's CPU. Controlled over IPC: { type: 'createStream' | 'stats' | 'stop' }.
import { startKinesisSimulator } from '@shardline/testkit';

const limits = process.argv[2] !== 'nolimits';
const simulator = await startKinesisSimulator({
  shardLimits: limits ? undefined : false,
  log: { mode: 'counts' },
});

type Message =
  | { type: 'createStream'; streamName: string; shardCount: number; maxRecordSizeInKiB?: number }
  | { type: 'stats' }
  | { type: 'stop' };

process.on('message', (message: Message) => {
  if (message.type === 'createStream') {
    simulator.createStream(
      message.streamName,
      message.shardCount,
      message.maxRecordSizeInKiB === undefined ? {} : { maxRecordSizeInKiB: message.maxRecordSizeInKiB },
    );
    process.send?.({ type: 'created' });
  } else if (message.type === 'stats') {
    // With the simulator's own clock, so a reply delayed by a busy event loop does not skew rates.
    process.send?.({ type: 'stats', stats: simulator.stats(), at: performance.now() });
  } else {
    void simulator.stop().then(() => process.exit(0));
  }
});
process.send?.({ type: 'ready', endpoint: simulator.endpoint, region: simulator.region });
