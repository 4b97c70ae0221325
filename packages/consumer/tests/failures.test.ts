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

  it('a throwing handler is reported and its batch retried; nothing is skipped', async () => {
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
      expect(errors.map((e) => [e.attempt, e.willRetry, e.error.code])).toEqual([
        [1, true, 'PROCESSOR_FAILED'],
        [2, true, 'PROCESSOR_FAILED'],
      ]);
      expect(consumer.metrics().processingErrors).toBe(2);
    } finally {
      await consumer.stop({ timeoutMs: 5_000 });
    }
  });

  it('after the last attempt the lease is released and processing restarts from the checkpoint', async () => {
    const streamName = uniqueName('giveup');
    const applicationName = uniqueName('app');
    await createStream(stack.kinesis, { streamName, shardCount: 1 });
    await putKeyed(stack.kinesis, streamName, ['a'], 0, 2);
    let failing = true;
    const processed: string[] = [];
    const consumer = makeConsumer(stack, {
      streamName,
      applicationName,
      initialPosition: 'TRIM_HORIZON',
      processingRetry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 20 },
      processor: async (records) => {
        if (failing) throw new Error('poison');
        for (const record of records) processed.push(text(record));
      },
    });
    const released: string[] = [];
    const errors: ConsumerEvents['processingError'][] = [];
    consumer.on('leaseReleased', ({ shardId }) => released.push(shardId));
    consumer.on('processingError', (event) => errors.push(event));
    await consumer.start();
    try {
      await waitFor(() => released.length >= 1, 20_000, 'lease released after the last attempt');
      expect(errors.slice(0, 2).map((e) => e.willRetry)).toEqual([true, false]);
      failing = false;
      await waitFor(() => processed.length >= 2, 20_000, 'records processed after re-taking the lease');
      expect(processed).toEqual(['a:0', 'a:1']); // the failed batch came back; nothing was skipped
    } finally {
      await consumer.stop({ timeoutMs: 5_000 });
    }
  });

  it("onProcessingFailure: 'skip' moves past the batch and says so", async () => {
    const streamName = uniqueName('skip');
    const applicationName = uniqueName('app');
    await createStream(stack.kinesis, { streamName, shardCount: 1 });
    await putKeyed(stack.kinesis, streamName, ['a'], 0, 2);
    const skipped: ConsumerEvents['batchSkipped'][] = [];
    let calls = 0;
    const consumer = makeConsumer(stack, {
      streamName,
      applicationName,
      initialPosition: 'TRIM_HORIZON',
      processingRetry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 20 },
      onProcessingFailure: 'skip',
      processor: async () => {
        calls++;
        throw new Error('poison');
      },
    });
    consumer.on('batchSkipped', (event) => skipped.push(event));
    await consumer.start();
    try {
      await waitFor(() => skipped.length >= 1, 20_000, 'batch skipped');
      expect(skipped[0]?.records).toBe(2);
      expect(calls).toBe(2);
    } finally {
      await consumer.stop({ timeoutMs: 5_000 });
    }
  });
});
