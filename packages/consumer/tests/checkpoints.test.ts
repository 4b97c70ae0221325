import { type AttributeValue, CreateTableCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { PutRecordCommand } from '@aws-sdk/client-kinesis';
import { RecordAggregator } from '@shardline/aggregation';
import { createStream, readAllRecords, uniqueName } from '@shardline/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CheckpointOutOfRangeError,
  DynamoDBLeaseStore,
  type RecordProcessor,
  type UserRecord,
} from '../src/index.js';
import { localStack, makeConsumer, putKeyed, waitFor } from './helpers.js';

const stack = localStack();
afterAll(() => stack.destroy());

const text = (record: UserRecord): string => new TextDecoder().decode(record.data);

/** Writes one KPL aggregate holding `payloads` (all to the stream's only shard). */
async function putAggregate(streamName: string, payloads: readonly string[]): Promise<void> {
  const aggregator = new RecordAggregator({ emitSingleRecordRaw: false });
  for (const payload of payloads) {
    if (aggregator.add({ partitionKey: `pk-${payload}`, data: payload }))
      throw new Error('aggregate overflowed');
  }
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
}

describe('checkpoints and resume', () => {
  it('resumes inside an aggregate after a sub-sequence checkpoint; rejects out-of-range checkpoints', async () => {
    const streamName = uniqueName('resume');
    const applicationName = uniqueName('app');
    await createStream(stack.kinesis, { streamName, shardCount: 1 });
    const first = Array.from({ length: 10 }, (_, i) => `a${i}`);
    await putAggregate(streamName, first);
    await putAggregate(streamName, ['b0', 'b1', 'b2']);

    const errors: unknown[] = [];
    let done = false;
    const processor: RecordProcessor = {
      async processRecords({ records, checkpointer }) {
        const fifth = records.find((record) => text(record) === 'a4');
        if (!fifth || done) return;
        expect(fifth.aggregated).toBe(true);
        expect(fifth.subSequenceNumber).toBe(4);
        // Past the largest delivered record: rejected, nothing written.
        await checkpointer
          .checkpoint(`${BigInt(fifth.sequenceNumber) + 10n ** 30n}`)
          .catch((e) => errors.push(e));
        await checkpointer.checkpoint(fifth.sequenceNumber, 4);
        // Below the last checkpoint: rejected.
        await checkpointer.checkpoint(fifth.sequenceNumber, 2).catch((e) => errors.push(e));
        done = true;
      },
      shardEnded: async ({ checkpointer }) => checkpointer.checkpoint(),
    };
    const one = makeConsumer(stack, {
      streamName,
      applicationName,
      initialPosition: 'TRIM_HORIZON',
      processor,
    });
    await one.start();
    await waitFor(() => done, 20_000, 'first worker checkpointed inside the aggregate');
    await one.stop({ timeoutMs: 5_000 });
    expect(errors).toHaveLength(2);
    for (const error of errors) expect(error).toBeInstanceOf(CheckpointOutOfRangeError);
    const lease = (
      await new DynamoDBLeaseStore({ client: stack.dynamoDB, tableName: applicationName }).listLeases()
    )[0];
    expect(lease?.checkpointSubSequenceNumber).toBe(4);

    const seen: string[] = [];
    const two = makeConsumer(stack, {
      streamName,
      applicationName,
      processor: async (records) => {
        for (const record of records) seen.push(text(record));
      },
    });
    await two.start();
    try {
      await waitFor(() => seen.length >= 8, 20_000, 'second worker resumed');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(seen).toEqual(['a5', 'a6', 'a7', 'a8', 'a9', 'b0', 'b1', 'b2']);
    } finally {
      await two.stop({ timeoutMs: 5_000 });
    }
    // The plain handler checkpointed the whole last aggregate: a third worker sees nothing old.
    const third: string[] = [];
    const three = makeConsumer(stack, {
      streamName,
      applicationName,
      processor: async (records) => {
        for (const record of records) third.push(text(record));
      },
    });
    await three.start();
    try {
      await putAggregate(streamName, ['c0', 'c1']);
      await waitFor(() => third.length >= 2, 20_000, 'third worker got new records');
      expect(third).toEqual(['c0', 'c1']);
    } finally {
      await three.stop({ timeoutMs: 5_000 });
    }
  });

  it('resumes from a lease table written by the Java KCL 2.x (PutItem), taking expired leases', async () => {
    const streamName = uniqueName('java');
    const applicationName = uniqueName('javaapp');
    await createStream(stack.kinesis, { streamName, shardCount: 2 });
    await putKeyed(stack.kinesis, streamName, ['x', 'y', 'z', 'w'], 0, 10);
    const all = await readAllRecords(stack.kinesis, streamName);
    const shard0 = all.filter((record) => record.shardId === 'shardId-000000000000');
    const shard1 = all.filter((record) => record.shardId === 'shardId-000000000001');
    expect(shard0.length).toBeGreaterThan(3);
    const checkpointed = shard0[2]?.SequenceNumber ?? '';
    await stack.dynamoDB.send(
      new CreateTableCommand({
        TableName: applicationName,
        AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await new DynamoDBLeaseStore({ client: stack.dynamoDB, tableName: applicationName }).ensureTable(); // waits for ACTIVE
    // As the KCL 2.x would leave them: shard 0 owned by a (now dead) Java worker with a checkpoint,
    // shard 1 owned by nobody and never checkpointed.
    const items: Record<string, AttributeValue>[] = [
      {
        leaseKey: { S: 'shardId-000000000000' },
        leaseOwner: { S: 'java-worker-1' },
        leaseCounter: { N: '57' },
        checkpoint: { S: checkpointed },
        checkpointSubSequenceNumber: { N: '0' },
        ownerSwitchesSinceCheckpoint: { N: '0' },
        startingHashKey: { S: '0' },
        endingHashKey: { S: '170141183460469231731687303715884105727' },
      },
      {
        leaseKey: { S: 'shardId-000000000001' },
        leaseCounter: { N: '3' },
        checkpoint: { S: 'TRIM_HORIZON' },
        checkpointSubSequenceNumber: { N: '0' },
        ownerSwitchesSinceCheckpoint: { N: '0' },
        startingHashKey: { S: '170141183460469231731687303715884105728' },
        endingHashKey: { S: '340282366920938463463374607431768211455' },
      },
    ];
    for (const Item of items)
      await stack.dynamoDB.send(new PutItemCommand({ TableName: applicationName, Item }));

    const seen = new Map<string, string[]>();
    const consumer = makeConsumer(stack, {
      streamName,
      applicationName,
      failoverTimeMs: 1_500,
      renewIntervalMs: 300,
      initialPosition: 'LATEST', // ignored: both shards have leases with checkpoints
      processor: async (records, { shardId }) => {
        const list = seen.get(shardId) ?? [];
        for (const record of records) list.push(record.sequenceNumber);
        seen.set(shardId, list);
      },
    });
    const acquiredAt = new Map<string, number>();
    consumer.on('leaseAcquired', ({ shardId }) => acquiredAt.set(shardId, Date.now()));
    const startedAt = Date.now();
    await consumer.start();
    try {
      const expected0 = shard0.slice(3).map((record) => record.SequenceNumber);
      const expected1 = shard1.map((record) => record.SequenceNumber);
      await waitFor(
        () =>
          (seen.get('shardId-000000000000')?.length ?? 0) >= expected0.length &&
          (seen.get('shardId-000000000001')?.length ?? 0) >= expected1.length,
        20_000,
        'both shards processed',
      );
      expect(seen.get('shardId-000000000000')).toEqual(expected0);
      expect(seen.get('shardId-000000000001')).toEqual(expected1);
      // The unowned lease is taken at once; the Java worker's lease only once its counter has stood still
      // for failoverTimeMs by our clock.
      expect((acquiredAt.get('shardId-000000000000') ?? 0) - startedAt).toBeGreaterThanOrEqual(1_450);
    } finally {
      await consumer.stop({ timeoutMs: 5_000 });
    }
    const leases = await new DynamoDBLeaseStore({
      client: stack.dynamoDB,
      tableName: applicationName,
    }).listLeases();
    const lease0 = leases.find((lease) => lease.leaseKey === 'shardId-000000000000');
    expect(lease0?.leaseCounter).toBeGreaterThan(57);
    expect(lease0?.checkpoint).toBe(shard0[shard0.length - 1]?.SequenceNumber);
  });
});
