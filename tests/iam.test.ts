/**
 * The documented IAM policies are exact: every API operation the producer and the consumer call is in
 * their policy, and every action in a policy is called. Operations are recorded from the caller's own SDK
 * clients, as AWS would authorise them.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  type KinesisClient,
  MergeShardsCommand,
  PutRecordCommand,
  SplitShardCommand,
} from '@aws-sdk/client-kinesis';
import { KinesisConsumer } from '@shardline/consumer';
import { KinesisProducer } from '@shardline/producer';
import {
  connectLocalStack,
  createStream,
  listAllShards,
  startKinesisSimulator,
  uniqueName,
  waitForStreamActive,
} from '@shardline/testkit';
import { afterAll, describe, expect, inject, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const stack = connectLocalStack(inject('localStack'));
afterAll(() => stack.destroy());

interface Policy {
  Statement: Array<{ Action: string[] }>;
}

function policyActions(file: string): string[] {
  const policy = JSON.parse(readFileSync(join(root, 'docs/iam', file), 'utf8')) as Policy;
  return policy.Statement.flatMap((s) => s.Action).sort();
}

function recordOperations(client: KinesisClient | DynamoDBClient, prefix: string, into: Set<string>): void {
  client.middlewareStack.add(
    (next, context) => (args) => {
      into.add(`${prefix}:${String(context.commandName).replace(/Command$/, '')}`);
      return next(args);
    },
    { step: 'initialize', name: 'recordOperationForIamTest' },
  );
}

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('least-privilege IAM policies', () => {
  it('list exactly the operations the producer and the consumer call', async () => {
    const streamName = uniqueName('iam');
    await createStream(stack.kinesis, { streamName, shardCount: 3 });

    const producerOps = new Set<string>();
    const producerKinesis = stack.createKinesisClient();
    recordOperations(producerKinesis, 'kinesis', producerOps);
    const producer = new KinesisProducer({ client: producerKinesis, streamName });

    const consumerOps = new Set<string>();
    const consumerKinesis = stack.createKinesisClient();
    const consumerDynamo = stack.createDynamoDBClient();
    recordOperations(consumerKinesis, 'kinesis', consumerOps);
    recordOperations(consumerDynamo, 'dynamodb', consumerOps);
    let processed = 0;
    let leasesDeleted = 0;
    const consumer = new KinesisConsumer({
      kinesisClient: consumerKinesis,
      dynamoDBClient: consumerDynamo,
      streamName,
      applicationName: uniqueName('iam-app'),
      initialPosition: 'TRIM_HORIZON',
      failoverTimeMs: 3_000,
      idleTimeBetweenReadsMs: 100,
      parentPollIntervalMs: 100,
      shardSyncIntervalMs: 500,
      processor: async (records) => {
        processed += records.length;
      },
    });
    consumer.on('leaseDeleted', () => {
      leasesDeleted++;
    });
    await consumer.start();
    try {
      const put = (from: number) =>
        Promise.all(
          Array.from({ length: 30 }, (_, i) => producer.put({ partitionKey: `k${from + i}`, data: 'x' })),
        );
      await put(0);
      // Resharding: the producer refreshes its shard map, the consumer ends parents and starts children.
      const [first, second, third] = (await listAllShards(stack.kinesis, streamName)).map(
        (s) => s.ShardId ?? '',
      );
      await stack.kinesis.send(
        new SplitShardCommand({
          StreamName: streamName,
          ShardToSplit: first,
          NewStartingHashKey: (2n ** 126n).toString(),
        }),
      );
      await waitForStreamActive(stack.kinesis, streamName);
      await stack.kinesis.send(
        new MergeShardsCommand({ StreamName: streamName, ShardToMerge: second, AdjacentShardToMerge: third }),
      );
      await waitForStreamActive(stack.kinesis, streamName);
      await put(30);
      await producer.flush();
      await until(() => processed >= 60, 30_000);
      // Lease cleanup: the parents go once their children have checkpointed (DeleteItem).
      await until(() => leasesDeleted > 0, 30_000);
    } finally {
      await producer.close();
      await consumer.stop({ timeoutMs: 10_000 });
      producerKinesis.destroy();
      consumerKinesis.destroy();
      consumerDynamo.destroy();
    }

    expect([...producerOps].sort()).toEqual(policyActions('producer-policy.json'));
    expect([...consumerOps].sort()).toEqual(policyActions('consumer-policy.json'));
  });

  it('list exactly the operations the consumer calls with enhanced fan-out', async () => {
    // Fan-out needs HTTP/2, which kinesis-local does not speak: the stream is on the Kinesis simulator.
    const simulator = await startKinesisSimulator({ fanOut: { consumerActivationMs: 100 } });
    const streamName = uniqueName('iam-efo');
    simulator.createStream(streamName, 3);
    const writer = simulator.createClient();
    const consumerOps = new Set<string>();
    const consumerKinesis = simulator.createHttp2Client();
    const consumerDynamo = stack.createDynamoDBClient();
    recordOperations(consumerKinesis, 'kinesis', consumerOps);
    recordOperations(consumerDynamo, 'dynamodb', consumerOps);
    const applicationName = uniqueName('iam-efo-app');
    let processed = 0;
    let leasesDeleted = 0;
    const consumer = new KinesisConsumer({
      kinesisClient: consumerKinesis,
      dynamoDBClient: consumerDynamo,
      streamName,
      applicationName,
      retrieval: { mode: 'fan-out', consumerName: applicationName },
      initialPosition: 'TRIM_HORIZON',
      failoverTimeMs: 3_000,
      parentPollIntervalMs: 100,
      shardSyncIntervalMs: 500,
      processor: async (records) => {
        processed += records.length;
      },
    });
    consumer.on('leaseDeleted', () => {
      leasesDeleted++;
    });
    const put = async (from: number): Promise<void> => {
      for (let i = 0; i < 30; i++) {
        await writer.send(
          new PutRecordCommand({
            StreamName: streamName,
            PartitionKey: `k${from + i}`,
            Data: new Uint8Array(1),
          }),
        );
      }
    };
    await consumer.start();
    try {
      await put(0);
      // Resharding and lease cleanup, as above: the same lease-table actions are needed.
      const [first, second, third] = simulator.shards(streamName).map((s) => s.shardId);
      simulator.splitShard(streamName, first ?? '');
      simulator.mergeShards(streamName, second ?? '', third ?? '');
      await put(30);
      await until(() => processed >= 60, 30_000);
      await until(() => leasesDeleted > 0, 30_000);
    } finally {
      await consumer.stop({ timeoutMs: 10_000 });
      consumerDynamo.destroy();
      await simulator.stop();
    }
    expect([...consumerOps].sort()).toEqual(policyActions('consumer-fan-out-policy.json'));
  });
});
