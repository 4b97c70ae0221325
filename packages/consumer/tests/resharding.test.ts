import { MergeShardsCommand, SplitShardCommand } from '@aws-sdk/client-kinesis';
import { createStream, listAllShards, uniqueName, waitForStreamActive } from '@shardline/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type ConsumerEvents,
  DynamoDBLeaseStore,
  type KinesisConsumer,
  type RecordProcessor,
  type UserRecord,
} from '../src/index.js';
import { localStack, makeConsumer, putKeyed, waitFor } from './helpers.js';

const stack = localStack();
afterAll(() => stack.destroy());

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('resharding, parent before child', () => {
  it('split one shard and merge two others while writing: every record once in order per key', async () => {
    const streamName = uniqueName('reshard');
    const applicationName = uniqueName('app');
    await createStream(stack.kinesis, { streamName, shardCount: 3 });
    const keys = Array.from({ length: 12 }, (_, i) => `key-${i}`);
    const processed: string[] = [];
    const handler = async (records: UserRecord[]): Promise<void> => {
      for (const record of records) processed.push(new TextDecoder().decode(record.data));
    };
    const workers: KinesisConsumer[] = ['r1', 'r2'].map((workerId) =>
      makeConsumer(stack, {
        streamName,
        applicationName,
        workerId,
        initialPosition: 'TRIM_HORIZON',
        processor: handler,
        // The parents' lease items are inspected at the end; cleanup is tested in cleanup.test.ts.
        maxLeaseDeletesPerSync: 0,
      }),
    );
    let written = 0;
    let producing = true;
    const producer = (async () => {
      for (let i = 0; producing; i++) {
        written += await putKeyed(stack.kinesis, streamName, keys, i, 1);
        await sleep(40);
      }
    })();
    try {
      await Promise.all(workers.map((worker) => worker.start()));
      await sleep(600);
      const shards = await listAllShards(stack.kinesis, streamName);
      const first = shards.find((shard) => shard.ShardId === 'shardId-000000000000');
      const start = BigInt(first?.HashKeyRange?.StartingHashKey ?? '0');
      const end = BigInt(first?.HashKeyRange?.EndingHashKey ?? '0');
      await stack.kinesis.send(
        new SplitShardCommand({
          StreamName: streamName,
          ShardToSplit: 'shardId-000000000000',
          NewStartingHashKey: ((start + end) / 2n).toString(),
        }),
      );
      await waitForStreamActive(stack.kinesis, streamName);
      await sleep(600);
      await stack.kinesis.send(
        new MergeShardsCommand({
          StreamName: streamName,
          ShardToMerge: 'shardId-000000000001',
          AdjacentShardToMerge: 'shardId-000000000002',
        }),
      );
      await waitForStreamActive(stack.kinesis, streamName);
      await sleep(600);
      producing = false;
      await producer;

      await waitFor(() => new Set(processed).size >= written, 30_000, `all ${written} records processed`);
      await sleep(300);
      expect(new Set(processed).size).toBe(written);
      // Per-key order across parents and children: every record not seen before is the next one for its
      // key. (Re-deliveries happen when a lease is stolen mid-batch during the initial balancing.)
      for (const key of keys) {
        let next = 0;
        for (const p of processed) {
          if (!p.startsWith(`${key}:`)) continue;
          const index = Number(p.split(':')[1]);
          if (index >= next) {
            expect(index).toBe(next);
            next++;
          }
        }
      }
      const leases = await new DynamoDBLeaseStore({
        client: stack.dynamoDB,
        tableName: applicationName,
      }).listLeases();
      const byKey = new Map(leases.map((lease) => [lease.leaseKey, lease]));
      expect(leases).toHaveLength(6);
      for (const parent of ['shardId-000000000000', 'shardId-000000000001', 'shardId-000000000002']) {
        expect(byKey.get(parent)?.checkpoint).toBe('SHARD_END');
        expect(byKey.get(parent)?.childShardIds.length).toBeGreaterThan(0);
      }
      const merged = leases.find((lease) => lease.parentShardIds.length === 2);
      expect([...(merged?.parentShardIds ?? [])].sort()).toEqual([
        'shardId-000000000001',
        'shardId-000000000002',
      ]);
    } finally {
      producing = false;
      await producer;
      await Promise.all(workers.map((worker) => worker.stop({ timeoutMs: 5_000 })));
    }
  });

  it('a shardEnded that forgets to checkpoint is reported and called again; children wait until it does', async () => {
    const streamName = uniqueName('forgot');
    const applicationName = uniqueName('app');
    await createStream(stack.kinesis, { streamName, shardCount: 1 });
    await putKeyed(stack.kinesis, streamName, ['a', 'b', 'c'], 0, 2);
    const processed: string[] = [];
    let shardEndedCalls = 0;
    const processor: RecordProcessor = {
      processRecords({ records }) {
        for (const record of records) processed.push(new TextDecoder().decode(record.data));
      },
      async shardEnded({ checkpointer }) {
        shardEndedCalls++;
        if (shardEndedCalls > 1) await checkpointer.checkpoint(); // the first call "forgets"
      },
    };
    const consumer = makeConsumer(stack, {
      streamName,
      applicationName,
      initialPosition: 'TRIM_HORIZON',
      processor,
    });
    const errors: ConsumerEvents['processingError'][] = [];
    consumer.on('processingError', (event) => errors.push(event));
    await consumer.start();
    try {
      await waitFor(() => processed.length >= 6, 20_000, 'parent records processed');
      await stack.kinesis.send(
        new SplitShardCommand({
          StreamName: streamName,
          ShardToSplit: 'shardId-000000000000',
          NewStartingHashKey: (1n << 127n).toString(),
        }),
      );
      await waitForStreamActive(stack.kinesis, streamName);
      await putKeyed(stack.kinesis, streamName, ['a', 'b', 'c'], 2, 2);
      await waitFor(() => processed.length >= 12, 20_000, 'child records processed');
      expect(shardEndedCalls).toBe(2);
      expect(errors.map((e) => [e.shardId, (e.error.cause as { code?: string }).code])).toEqual([
        ['shardId-000000000000', 'SHARD_END_NOT_CHECKPOINTED'],
      ]);
      for (const key of ['a', 'b', 'c']) {
        expect(processed.filter((p) => p.startsWith(`${key}:`))).toEqual(
          [0, 1, 2, 3].map((i) => `${key}:${i}`),
        );
      }
    } finally {
      await consumer.stop({ timeoutMs: 5_000 });
    }
  });
});
