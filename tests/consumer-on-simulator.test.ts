/**
 * Our polling consumer against the testkit's Kinesis simulator (reads with the real per-shard limits) and
 * the local DynamoDB: every record is read back across a split, parents before children, per-key order kept.
 */
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { KinesisConsumer, type UserRecord } from '@shardline/consumer';
import { connectLocalStack, startKinesisSimulator, uniqueName } from '@shardline/testkit';
import { afterAll, describe, expect, inject, it } from 'vitest';

const stack = connectLocalStack(inject('localStack'));
afterAll(() => stack.destroy());

async function waitFor(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('KinesisConsumer on the Kinesis simulator', () => {
  it('reads everything across a split with the read limits on', async () => {
    const streamName = uniqueName('sim-consumer');
    const sim = await startKinesisSimulator({ streams: [{ streamName, shardCount: 2 }] });
    const writer = sim.createClient();
    const keys = Array.from({ length: 16 }, (_, i) => `key-${i}`);
    const put = async (round: number) => {
      await writer.send(
        new PutRecordsCommand({
          StreamName: streamName,
          Records: keys.map((key) => ({ PartitionKey: key, Data: Buffer.from(`${key}:${round}`) })),
        }),
      );
    };
    for (let round = 0; round < 10; round++) await put(round);
    sim.splitShard(streamName, 'shardId-000000000000');
    for (let round = 10; round < 20; round++) await put(round);
    const seen: string[] = [];
    const consumer = new KinesisConsumer({
      kinesisClient: sim.createClient(),
      dynamoDBClient: stack.dynamoDB,
      streamName,
      applicationName: uniqueName('sim-app'),
      initialPosition: 'TRIM_HORIZON',
      failoverTimeMs: 2_000,
      renewIntervalMs: 400,
      takerIntervalMs: 300,
      leaseScanIntervalMs: 1_000,
      shardSyncIntervalMs: 1_000,
      parentPollIntervalMs: 100,
      idleTimeBetweenReadsMs: 100,
      processor: async (records: UserRecord[]) => {
        for (const record of records) seen.push(new TextDecoder().decode(record.data));
      },
    });
    await consumer.start();
    try {
      await waitFor(() => seen.length >= keys.length * 20, 30_000);
    } finally {
      await consumer.stop({ timeoutMs: 5_000 });
      await sim.stop();
    }
    expect(new Set(seen).size).toBe(keys.length * 20);
    for (const key of keys) {
      const rounds = seen.filter((s) => s.startsWith(`${key}:`)).map((s) => Number(s.split(':')[1]));
      expect(rounds).toEqual([...rounds].sort((a, b) => a - b));
    }
    expect(sim.stats().readRecords).toBeGreaterThanOrEqual(keys.length * 20);
  });
});
