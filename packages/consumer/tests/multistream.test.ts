import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { DescribeStreamSummaryCommand, SplitShardCommand } from '@aws-sdk/client-kinesis';
import { createStream, listAllShards, uniqueName, waitForStreamActive } from '@shardline/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import type { KinesisConsumer, StreamList, UserRecord } from '../src/index.js';
import type { ShardContext } from '../src/processor.js';
import { localStack, makeConsumer, putKeyed, waitFor } from './helpers.js';

const stack = localStack();
afterAll(() => stack.destroy());

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Every record seen, as `stream/key:index`, in the order the processor got them. */
function recorder(): { seen: string[]; handler: (records: UserRecord[], context: ShardContext) => void } {
  const seen: string[] = [];
  return {
    seen,
    handler: (records, context) => {
      for (const record of records)
        seen.push(`${context.streamName}/${new TextDecoder().decode(record.data)}`);
    },
  };
}

/** Per key: every record not seen before is the next one (re-deliveries after a handoff are allowed). */
function expectInOrderPerKey(seen: readonly string[], stream: string, keys: readonly string[]): void {
  for (const key of keys) {
    let next = 0;
    for (const entry of seen) {
      if (!entry.startsWith(`${stream}/${key}:`)) continue;
      const index = Number(entry.slice(entry.lastIndexOf(':') + 1));
      if (index >= next) {
        expect(index).toBe(next);
        next++;
      }
    }
  }
}

async function streamId(streamName: string): Promise<string> {
  const { StreamDescriptionSummary: s } = await stack.kinesis.send(
    new DescribeStreamSummaryCommand({ StreamName: streamName }),
  );
  const account = s?.StreamARN?.split(':')[4];
  const epoch = Math.floor((s?.StreamCreationTimestamp?.getTime() ?? 0) / 1000);
  return `${account}:${streamName}:${epoch}`;
}

async function leaseItems(table: string): Promise<Array<Record<string, string | undefined>>> {
  const { Items = [] } = await stack.dynamoDB.send(
    new ScanCommand({ TableName: table, ConsistentRead: true }),
  );
  return Items.map((item) => ({
    leaseKey: item.leaseKey?.S,
    streamName: item.streamName?.S,
    shardId: item.shardId?.S,
    checkpoint: item.checkpoint?.S,
  }));
}

describe('multi-stream applications', () => {
  it('two streams, three workers: every record of both, order per key across a split, KCL multi-stream items', async () => {
    const a = uniqueName('msa');
    const b = uniqueName('msb');
    const applicationName = uniqueName('app');
    await createStream(stack.kinesis, { streamName: a, shardCount: 4 });
    await createStream(stack.kinesis, { streamName: b, shardCount: 2 });
    const arnB = (await stack.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: b })))
      .StreamDescriptionSummary?.StreamARN as string;
    const keys = Array.from({ length: 8 }, (_, i) => `key-${i}`);
    const { seen, handler } = recorder();
    const streams: StreamList = [
      { streamName: a, initialPosition: 'TRIM_HORIZON' },
      { streamARN: arnB, initialPosition: 'TRIM_HORIZON' },
    ];
    const workers: KinesisConsumer[] = ['w1', 'w2', 'w3'].map((workerId) =>
      makeConsumer(stack, {
        streams,
        applicationName,
        workerId,
        processor: handler,
        maxLeaseDeletesPerSync: 0,
      }),
    );
    let written = 0;
    try {
      written += await putKeyed(stack.kinesis, a, keys, 0, 10);
      written += await putKeyed(stack.kinesis, b, keys, 0, 10);
      await Promise.all(workers.map((worker) => worker.start()));
      await waitFor(() => new Set(seen).size >= written, 30_000, 'records written before the split');
      const first = (await listAllShards(stack.kinesis, a)).find((s) => s.ShardId === 'shardId-000000000000');
      const start = BigInt(first?.HashKeyRange?.StartingHashKey ?? '0');
      const end = BigInt(first?.HashKeyRange?.EndingHashKey ?? '0');
      await stack.kinesis.send(
        new SplitShardCommand({
          StreamName: a,
          ShardToSplit: 'shardId-000000000000',
          NewStartingHashKey: ((start + end) / 2n).toString(),
        }),
      );
      await waitForStreamActive(stack.kinesis, a);
      written += await putKeyed(stack.kinesis, a, keys, 10, 10);
      written += await putKeyed(stack.kinesis, b, keys, 10, 10);
      await waitFor(() => new Set(seen).size >= written, 30_000, `all ${written} records of both streams`);
      expect(new Set(seen).size).toBe(written);
      expectInOrderPerKey(seen, a, keys);
      expectInOrderPerKey(seen, b, keys);
      // Every worker got a share of the 8 leases (4 + 2, then the split's 2 children).
      await waitFor(
        () => workers.every((w) => w.heldShardIds().length > 0),
        20_000,
        'every worker holds leases',
      );

      const [idA, idB] = [await streamId(a), await streamId(b)];
      const items = await leaseItems(applicationName);
      expect(items).toHaveLength(8);
      for (const item of items) {
        expect([idA, idB]).toContain(item.streamName);
        expect(item.shardId).toMatch(/^shardId-\d{12}$/);
        expect(item.leaseKey).toBe(`${item.streamName}:${item.shardId}`);
        expect(item.leaseKey).toMatch(/^\d{12}:[^:]+:\d+:shardId-\d{12}$/);
      }
      expect(items.filter((item) => item.streamName === idA)).toHaveLength(6);
      expect(items.find((item) => item.leaseKey === `${idA}:shardId-000000000000`)?.checkpoint).toBe(
        'SHARD_END',
      );
    } finally {
      await Promise.all(workers.map((worker) => worker.stop({ timeoutMs: 5_000 })));
    }
  });

  it('streams from a function: one added at runtime is picked up, a removed one loses its leases after the grace period', async () => {
    const [a, b, c] = [uniqueName('msa'), uniqueName('msb'), uniqueName('msc')];
    const applicationName = uniqueName('app');
    await createStream(stack.kinesis, { streamName: a, shardCount: 2 });
    await createStream(stack.kinesis, { streamName: b, shardCount: 2 });
    await createStream(stack.kinesis, { streamName: c, shardCount: 1 });
    let current: string[] = [a, b];
    const { seen, handler } = recorder();
    const deleted: Array<{ key: string; at: number }> = [];
    const workers: KinesisConsumer[] = ['f1', 'f2'].map((workerId) =>
      makeConsumer(stack, {
        streams: async () => current,
        initialPosition: 'TRIM_HORIZON',
        streamListIntervalMs: 300,
        formerStreamGracePeriodMs: 1_500,
        applicationName,
        workerId,
        processor: handler,
      }),
    );
    for (const worker of workers)
      worker.on('leaseDeleted', ({ shardId, reason }) => {
        if (reason === 'former-stream') deleted.push({ key: shardId, at: Date.now() });
      });
    try {
      let written = await putKeyed(stack.kinesis, a, ['k1', 'k2'], 0, 5);
      written += await putKeyed(stack.kinesis, b, ['k1', 'k2'], 0, 5);
      await Promise.all(workers.map((worker) => worker.start()));
      await waitFor(() => new Set(seen).size >= written, 30_000, 'records of a and b');

      current = [a, b, c];
      written += await putKeyed(stack.kinesis, c, ['k1', 'k2', 'k3'], 0, 5);
      await waitFor(() => new Set(seen).size >= written, 30_000, 'records of the added stream c');
      expect(seen.some((entry) => entry.startsWith(`${c}/`))).toBe(true);

      const idB = await streamId(b);
      expect((await leaseItems(applicationName)).filter((item) => item.streamName === idB)).toHaveLength(2);
      current = [a, c];
      const removedAt = Date.now();
      await waitFor(
        async () => (await leaseItems(applicationName)).every((item) => item.streamName !== idB),
        30_000,
        "b's leases deleted after the grace period",
      );
      await waitFor(() => deleted.length >= 2, 5_000, 'both deletions reported');
      expect(deleted.every(({ key }) => key.startsWith(`${idB}:`))).toBe(true);
      // Not before the grace period (by the workers' clocks, from when they read the shorter list).
      for (const { at } of deleted) expect(at - removedAt).toBeGreaterThanOrEqual(1_500);
      const left = await leaseItems(applicationName);
      const [idA, idC] = [await streamId(a), await streamId(c)];
      expect(left.filter((item) => item.streamName === idA)).toHaveLength(2);
      expect(left.filter((item) => item.streamName === idC)).toHaveLength(1);
      // Nothing of b is processed any more, and a and c carry on.
      written += await putKeyed(stack.kinesis, a, ['k1'], 5, 3);
      await waitFor(() => new Set(seen).size >= written, 30_000, 'a keeps being processed');
      await sleep(300);
      expect(workers.flatMap((w) => w.heldShardIds()).every((key) => !key.startsWith(`${idB}:`))).toBe(true);
    } finally {
      await Promise.all(workers.map((worker) => worker.stop({ timeoutMs: 5_000 })));
    }
  });
});
