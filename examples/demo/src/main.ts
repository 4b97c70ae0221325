/**
 * `pnpm demo`: runs on the embedded local stack (no AWS account). For now it starts the stack, creates a
 * stream, puts records, reads every one back and checks nothing was lost; the full producer -> consumers
 * pipeline replaces the hand-written PutRecords once those packages land.
 */
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { createStream, readAllRecords, startLocalStack } from '@shardline/testkit';

const RECORDS = 200;
const SHARDS = 4;

async function main(): Promise<number> {
  const started = Date.now();
  console.log('starting the local stack (kinesis-local + dynalite on 127.0.0.1)...');
  const stack = await startLocalStack();
  const stopOnSignal = (): void => {
    void stack.stop().then(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  try {
    console.log(`  kinesis  ${stack.endpoints.kinesisEndpoint}`);
    console.log(`  dynamodb ${stack.endpoints.dynamoDBEndpoint}`);
    const streamName = 'shardline-demo';
    await createStream(stack.kinesis, { streamName, shardCount: SHARDS });
    console.log(`created stream ${streamName} with ${SHARDS} shards`);

    const sent = new Set<string>();
    for (let offset = 0; offset < RECORDS; offset += 100) {
      const entries = Array.from({ length: Math.min(100, RECORDS - offset) }, (_, i) => {
        const id = `record-${offset + i}`;
        sent.add(id);
        return { PartitionKey: `user-${(offset + i) % 17}`, Data: Buffer.from(JSON.stringify({ id })) };
      });
      const response = await stack.kinesis.send(
        new PutRecordsCommand({ StreamName: streamName, Records: entries }),
      );
      if (response.FailedRecordCount) throw new Error(`${response.FailedRecordCount} entries failed`);
    }
    console.log(`put ${sent.size} records`);

    const records = await readAllRecords(stack.kinesis, streamName);
    const perShard = new Map<string, number>();
    const seen = new Set<string>();
    for (const record of records) {
      perShard.set(record.shardId, (perShard.get(record.shardId) ?? 0) + 1);
      const { id } = JSON.parse(Buffer.from(record.Data ?? []).toString('utf8')) as { id: string };
      seen.add(id);
    }
    for (const [shardId, count] of [...perShard].sort()) console.log(`  ${shardId}: ${count} records`);
    const missing = [...sent].filter((id) => !seen.has(id));
    const duplicates = records.length - seen.size;
    console.log(
      `read back ${records.length} records: ${missing.length} missing, ${duplicates} duplicates ` +
        `(${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
    return missing.length === 0 ? 0 : 1;
  } finally {
    await stack.stop();
    console.log('local stack stopped');
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error('demo failed:', error);
    process.exitCode = 1;
  },
);
