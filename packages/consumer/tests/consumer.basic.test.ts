import { DescribeStreamSummaryCommand, PutRecordCommand } from '@aws-sdk/client-kinesis';
import { RecordAggregator } from '@shardline/aggregation';
import { createStream, uniqueName } from '@shardline/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { type ConsumerEvents, DynamoDBLeaseStore, type UserRecord } from '../src/index.js';
import { localStack, makeConsumer, putKeyed, waitFor } from './helpers.js';

const stack = localStack();
afterAll(() => stack.destroy());

describe('KinesisConsumer, one worker', () => {
  it('processes every record with the plain handler and checkpoints each batch', async () => {
    const streamName = uniqueName('basic');
    const applicationName = uniqueName('app');
    await createStream(stack.kinesis, { streamName, shardCount: 2 });
    const keys = ['k1', 'k2', 'k3', 'k4'];
    const written = await putKeyed(stack.kinesis, streamName, keys, 0, 25);
    const seen: string[] = [];
    const consumer = makeConsumer(stack, {
      streamName,
      applicationName,
      initialPosition: 'TRIM_HORIZON',
      processor: async (records: UserRecord[]) => {
        for (const record of records) seen.push(new TextDecoder().decode(record.data));
      },
    });
    await consumer.start();
    try {
      await waitFor(() => consumer.metrics().recordsProcessed >= written, 20_000, 'all records processed');
      expect(new Set(seen).size).toBe(written);
      // Per-key order.
      for (const key of keys) {
        const indexes = seen.filter((s) => s.startsWith(`${key}:`)).map((s) => Number(s.split(':')[1]));
        expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
      }
      const metrics = consumer.metrics();
      expect(metrics.leasesHeld).toBe(2);
      expect(metrics.recordsProcessed).toBe(written);
      expect(metrics.checkpoints).toBeGreaterThan(0);
    } finally {
      await consumer.stop({ timeoutMs: 5_000 });
      await consumer.stop(); // safe twice
    }
    await expect(consumer.start()).rejects.toMatchObject({ code: 'STOPPED' });
    const store = new DynamoDBLeaseStore({ client: stack.dynamoDB, tableName: applicationName });
    const leases = await store.listLeases();
    expect(leases).toHaveLength(2);
    for (const lease of leases) {
      expect(lease.leaseOwner).toBeUndefined(); // released on stop
      expect(lease.checkpoint).toMatch(/^\d+$/);
    }
  });

  it('drops user records outside the shard hash range one by one and reports them', async () => {
    const streamName = uniqueName('range');
    const applicationName = uniqueName('app');
    await createStream(stack.kinesis, { streamName, shardCount: 2 });
    // Shard 0 holds hash keys 0..2^127-1. An aggregate routed there (by its first record) carries two user
    // records whose explicit hash keys belong to shard 1, as a producer with a stale shard map would write.
    const aggregator = new RecordAggregator({ emitSingleRecordRaw: false });
    const high = ((1n << 127n) + 5n).toString();
    aggregator.add({ partitionKey: 'p', explicitHashKey: '10', data: 'in-0' });
    aggregator.add({ partitionKey: 'p', explicitHashKey: high, data: 'out-1' });
    aggregator.add({ partitionKey: 'p', explicitHashKey: '20', data: 'in-2' });
    aggregator.add({ partitionKey: 'p', explicitHashKey: high, data: 'out-3' });
    const aggregate = aggregator.flush();
    if (!aggregate) throw new Error('no aggregate');
    await stack.kinesis.send(
      new PutRecordCommand({
        StreamName: streamName,
        PartitionKey: aggregate.partitionKey,
        ExplicitHashKey: aggregate.explicitHashKey,
        Data: aggregate.data,
      }),
    );
    const seen: string[] = [];
    const filtered: ConsumerEvents['recordsOutOfRange'][] = [];
    const consumer = makeConsumer(stack, {
      streamName,
      applicationName,
      initialPosition: 'TRIM_HORIZON',
      outOfRangeRecords: 'drop',
      processor: async (records: UserRecord[]) => {
        for (const record of records)
          seen.push(`${new TextDecoder().decode(record.data)}@${record.subSequenceNumber}`);
      },
    });
    consumer.on('recordsOutOfRange', (event) => filtered.push(event));
    await consumer.start();
    try {
      await waitFor(() => seen.length >= 2 && filtered.length >= 1, 20_000, 'aggregate processed');
      expect(seen).toEqual(['in-0@0', 'in-2@2']);
      expect(filtered).toEqual([{ shardId: 'shardId-000000000000', count: 2, delivered: false }]);
      expect(consumer.metrics().recordsOutOfRangeDropped).toBe(2);
    } finally {
      await consumer.stop({ timeoutMs: 5_000 });
    }
  });

  it('a processor factory gives each shard its own processor', async () => {
    const streamName = uniqueName('factory');
    const applicationName = uniqueName('app');
    await createStream(stack.kinesis, { streamName, shardCount: 2 });
    const written = await putKeyed(stack.kinesis, streamName, ['a', 'b', 'c', 'd', 'e', 'f'], 0, 3);
    const perShard = new Map<string, Set<string>>();
    let total = 0;
    const consumer = makeConsumer(stack, {
      streamName,
      applicationName,
      initialPosition: 'TRIM_HORIZON',
      processor: {
        createProcessor(shardId: string) {
          const shards = new Set<string>();
          perShard.set(shardId, shards);
          return async (records: UserRecord[], context: { shardId: string }) => {
            shards.add(context.shardId);
            total += records.length;
          };
        },
      },
    });
    await consumer.start();
    try {
      await waitFor(() => total >= written, 20_000, 'all records processed');
      expect([...perShard.keys()].sort()).toEqual(['shardId-000000000000', 'shardId-000000000001']);
      for (const [shardId, seen] of perShard) expect([...seen]).toEqual([shardId]);
    } finally {
      await consumer.stop({ timeoutMs: 5_000 });
    }
  });

  it('addresses the stream by ARN and honours initialPosition AT_TIMESTAMP', async () => {
    const streamName = uniqueName('arn');
    const applicationName = uniqueName('app');
    await createStream(stack.kinesis, { streamName, shardCount: 1 });
    await putKeyed(stack.kinesis, streamName, ['old'], 0, 3);
    await new Promise((resolve) => setTimeout(resolve, 600));
    const timestamp = new Date();
    await new Promise((resolve) => setTimeout(resolve, 600));
    await putKeyed(stack.kinesis, streamName, ['new'], 0, 3);
    const summary = await stack.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
    const streamARN = summary.StreamDescriptionSummary?.StreamARN ?? '';
    expect(streamARN).toMatch(/^arn:/);
    const seen: string[] = [];
    const consumer = makeConsumer(stack, {
      streamARN,
      applicationName,
      initialPosition: { timestamp },
      processor: async (records: UserRecord[]) => {
        for (const record of records) seen.push(new TextDecoder().decode(record.data));
      },
    });
    await consumer.start();
    try {
      await waitFor(() => seen.length >= 3, 20_000, 'records after the timestamp');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(seen).toEqual(['new:0', 'new:1', 'new:2']);
    } finally {
      await consumer.stop({ timeoutMs: 5_000 });
    }
  });
});
