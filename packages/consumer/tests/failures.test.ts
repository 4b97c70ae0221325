import { createStream, uniqueName } from '@shardline/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type ConsumerEvents,
  DynamoDBLeaseStore,
  LeaseLostError,
  type RecordProcessor,
  type UserRecord,
} from '../src/index.js';
import { localStack, makeConsumer, putKeyed, waitFor } from './helpers.js';

const stack = localStack();
afterAll(() => stack.destroy());

const text = (record: UserRecord): string => new TextDecoder().decode(record.data);

describe('fencing and processor failures', () => {
  it('a worker that lost its lease cannot checkpoint, and gets leaseLost', async () => {
    const streamName = uniqueName('fence');
    const applicationName = uniqueName('app');
    await createStream(stack.kinesis, { streamName, shardCount: 1 });
    await putKeyed(stack.kinesis, streamName, ['a'], 0, 5);
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let inBatch = false;
    let checkpointError: unknown;
    let leaseLostCalls = 0;
    const processor: RecordProcessor = {
      async processRecords({ checkpointer }) {
        inBatch = true;
        await gate;
        await checkpointer.checkpoint().catch((error) => {
          checkpointError = error;
        });
      },
      leaseLost() {
        leaseLostCalls++;
      },
      shardEnded: ({ checkpointer }) => checkpointer.checkpoint(),
    };
    const zombie = makeConsumer(stack, {
      streamName,
      applicationName,
      initialPosition: 'TRIM_HORIZON',
      // Slow renewals: the zombie does not notice the theft before it tries to checkpoint.
      failoverTimeMs: 20_000,
      renewIntervalMs: 10_000,
      processor,
    });
    const lost: ConsumerEvents['leaseLost'][] = [];
    zombie.on('leaseLost', (event) => lost.push(event));
    await zombie.start();
    try {
      await waitFor(() => inBatch, 20_000, 'zombie in its batch');
      // Another worker takes the lease (as after an expiry seen from its side) and checkpoints.
      const thief = new DynamoDBLeaseStore({
        client: stack.createDynamoDBClient(),
        tableName: applicationName,
      });
      const [lease] = await thief.listLeases();
      if (!lease) throw new Error('no lease');
      const taken = await thief.takeLease(lease, 'thief');
      if (!taken) throw new Error('theft failed');
      await thief.checkpoint(taken, 'thief', '1', 0);
      release();
      await waitFor(() => checkpointError !== undefined, 10_000, 'zombie checkpoint rejected');
      expect(checkpointError).toBeInstanceOf(LeaseLostError);
      await waitFor(() => leaseLostCalls === 1, 10_000, 'leaseLost delivered');
      expect(lost).toEqual([{ shardId: 'shardId-000000000000', reason: 'taken' }]);
      const after = await thief.getLease('shardId-000000000000');
      expect(after).toMatchObject({ leaseOwner: 'thief', checkpoint: '1' }); // not overwritten
      expect(zombie.heldShardIds()).toEqual([]);
    } finally {
      release();
      await zombie.stop({ timeoutMs: 5_000 });
    }
  });

  it('a throwing handler is reported and its batch retried (halved, to find a failing record); nothing is skipped', async () => {
    const streamName = uniqueName('retry');
    const applicationName = uniqueName('app');
    await createStream(stack.kinesis, { streamName, shardCount: 1 });
    await putKeyed(stack.kinesis, streamName, ['a'], 0, 3);
    let calls = 0;
    const processed: string[] = [];
    const consumer = makeConsumer(stack, {
      streamName,
      applicationName,
      initialPosition: 'TRIM_HORIZON',
      processingRetry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 20 },
      processor: async (records) => {
        calls++;
        if (calls <= 2) throw new Error('transient');
        for (const record of records) processed.push(text(record));
      },
    });
    const errors: ConsumerEvents['processingError'][] = [];
    consumer.on('processingError', (event) => errors.push(event));
    await consumer.start();
    try {
      await waitFor(() => processed.length >= 3, 20_000, 'batch processed after retries');
      expect(processed).toEqual(['a:0', 'a:1', 'a:2']);
      // 3 records fail, then the first 2, then a:0, a:1 and a:2 succeed one by one: no record failed alone.
      expect(errors.map((e) => [e.attempt, e.willRetry, e.error.code, e.record])).toEqual([
        [1, true, 'PROCESSOR_FAILED', undefined],
        [2, true, 'PROCESSOR_FAILED', undefined],
      ]);
      expect(consumer.metrics().processingErrors).toBe(2);
    } finally {
      await consumer.stop({ timeoutMs: 5_000 });
    }
  });

  it('after the last attempt the lease is kept and the shard reported blocked; the record is retried until it passes', async () => {
    const streamName = uniqueName('blocked');
    const applicationName = uniqueName('app');
    await createStream(stack.kinesis, { streamName, shardCount: 1 });
    await putKeyed(stack.kinesis, streamName, ['a'], 0, 2);
    let failing = true;
    const processed: string[] = [];
    const sequenceOf = new Map<string, string>();
    const consumer = makeConsumer(stack, {
      streamName,
      applicationName,
      initialPosition: 'TRIM_HORIZON',
      processingRetry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 20 },
      processor: async (records) => {
        for (const record of records) sequenceOf.set(text(record), record.sequenceNumber);
        if (failing) throw new Error('poison');
        for (const record of records) processed.push(text(record));
      },
    });
    const released: string[] = [];
    const blocked: ConsumerEvents['shardBlocked'][] = [];
    const unblocked: ConsumerEvents['shardUnblocked'][] = [];
    consumer.on('leaseReleased', ({ shardId }) => released.push(shardId));
    consumer.on('leaseLost', ({ shardId }) => released.push(shardId));
    consumer.on('shardBlocked', (event) => blocked.push(event));
    consumer.on('shardUnblocked', (event) => unblocked.push(event));
    await consumer.start();
    try {
      await waitFor(() => blocked.length >= 3, 20_000, 'shard reported blocked, repeatedly');
      // Halving the 2-record batch isolates a:0, the oldest failing record.
      expect(blocked.slice(0, 3).map((e) => [e.sequenceNumber, e.attempts])).toEqual([
        [sequenceOf.get('a:0'), 2],
        [sequenceOf.get('a:0'), 3],
        [sequenceOf.get('a:0'), 4],
      ]);
      const metrics = consumer.metrics();
      expect(metrics.shardsBlocked).toBe(1);
      expect(metrics.shards[0]?.failingRecord?.sequenceNumber).toBe(sequenceOf.get('a:0'));
      expect(metrics.shards[0]?.blockedSince).toBeTypeOf('number');
      expect(released).toEqual([]);
      expect(consumer.heldShardIds()).toEqual(['shardId-000000000000']);
      failing = false;
      await waitFor(() => processed.length >= 2, 20_000, 'records processed once the record passes');
      expect(processed).toEqual(['a:0', 'a:1']); // nothing was skipped
      expect(unblocked.map((e) => [e.sequenceNumber, e.resolution])).toEqual([
        [sequenceOf.get('a:0'), 'processed'],
      ]);
      expect(consumer.metrics().shardsBlocked).toBe(0);
      expect(released).toEqual([]);
    } finally {
      await consumer.stop({ timeoutMs: 5_000 });
    }
  });

  it("onProcessingFailure: 'skip' moves past the failing record only, and says so", async () => {
    const streamName = uniqueName('skip');
    const applicationName = uniqueName('app');
    await createStream(stack.kinesis, { streamName, shardCount: 1 });
    await putKeyed(stack.kinesis, streamName, ['a'], 0, 2);
    const skipped: ConsumerEvents['recordSkipped'][] = [];
    const sizes: number[] = [];
    const processed: string[] = [];
    const consumer = makeConsumer(stack, {
      streamName,
      applicationName,
      initialPosition: 'TRIM_HORIZON',
      processingRetry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 20 },
      onProcessingFailure: 'skip',
      processor: async (records) => {
        sizes.push(records.length);
        if (records.some((record) => text(record) === 'a:0')) throw new Error('poison');
        for (const record of records) processed.push(text(record));
      },
    });
    consumer.on('recordSkipped', (event) => skipped.push(event));
    await consumer.start();
    try {
      await waitFor(() => processed.length >= 1, 20_000, 'the other record processed');
      expect(skipped.map((e) => [e.partitionKey, e.subSequenceNumber, e.attempts])).toEqual([['a', 0, 2]]);
      expect(processed).toEqual(['a:1']);
      expect(sizes).toEqual([2, 1, 1, 1]); // the batch, a:0 alone twice, then a:1
      expect(consumer.metrics().recordsSkipped).toBe(1);
    } finally {
      await consumer.stop({ timeoutMs: 5_000 });
    }
  });
});
