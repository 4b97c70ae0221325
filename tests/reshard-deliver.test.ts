/**
 * Our producer across a split, read by our consumer with the default `outOfRangeRecords: 'deliver'`: the
 * members of an aggregate that a split put on the wrong child are re-sent by the producer (WrongShard) and also
 * delivered, flagged, where they first landed. Nothing is lost, first-seen per-key order holds, and the only
 * duplicates are exactly those re-sent members.
 */
import { SplitShardCommand } from '@aws-sdk/client-kinesis';
import { KinesisConsumer, type UserRecord } from '@shardline/consumer';
import { KinesisProducer, type PutResult } from '@shardline/producer';
import {
  connectLocalStack,
  createStream,
  listAllShards,
  uniqueName,
  waitForStreamActive,
} from '@shardline/testkit';
import { afterAll, describe, expect, inject, it } from 'vitest';

const stack = connectLocalStack(inject('localStack'));
afterAll(() => stack.destroy());

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('a split between our producer and our consumer', () => {
  it("with 'deliver': first-seen per-key order holds and the duplicates are exactly the re-sent members", async () => {
    const streamName = uniqueName('split-deliver');
    await createStream(stack.kinesis, { streamName, shardCount: 1 });
    const producer = new KinesisProducer({
      client: stack.createKinesisClient(),
      streamName,
      ordered: true,
      maxBufferedTimeMs: 20,
    });
    const keys = Array.from({ length: 64 }, (_, i) => `key-${i}`);
    const puts: Array<Promise<PutResult>> = [];
    let splitDone = false;
    const producing = (async () => {
      let afterSplit = 0;
      for (let i = 0; i < 20_000 && afterSplit < 2_000; i++) {
        const key = keys[i % keys.length] as string;
        puts.push(producer.put({ partitionKey: key, data: `${key}:${Math.floor(i / keys.length)}` }));
        if (splitDone) afterSplit++;
        if (i % 64 === 63) await sleep(5);
      }
    })();
    await sleep(100);
    const [parent] = await listAllShards(stack.kinesis, streamName);
    await stack.kinesis.send(
      new SplitShardCommand({
        StreamName: streamName,
        ShardToSplit: parent?.ShardId,
        NewStartingHashKey: (1n << 127n).toString(),
      }),
    );
    await waitForStreamActive(stack.kinesis, streamName);
    splitDone = true;
    await producing;
    const results = await Promise.all(puts);
    await producer.close();
    const resent = results.filter((r) => r.attempts.some((a) => a.errorCode === 'WrongShard')).length;

    const seen: UserRecord[] = [];
    const consumer = new KinesisConsumer({
      kinesisClient: stack.kinesis,
      dynamoDBClient: stack.dynamoDB,
      streamName,
      applicationName: uniqueName('app'),
      initialPosition: 'TRIM_HORIZON',
      failoverTimeMs: 2_000,
      parentPollIntervalMs: 100,
      idleTimeBetweenReadsMs: 100,
      processor: async (records) => {
        seen.push(...records);
      },
    });
    await consumer.start();
    try {
      const text = (r: UserRecord): string => new TextDecoder().decode(r.data);
      const deadline = Date.now() + 60_000;
      while (new Set(seen.map(text)).size < results.length && Date.now() < deadline) await sleep(100);
      await sleep(1_000); // late copies, if any
      expect(new Set(seen.map(text)).size).toBe(results.length);
      // The split did catch aggregates in flight (else this test proves nothing).
      expect(resent).toBeGreaterThan(0);
      expect(seen.length - results.length).toBe(resent);
      const flagged = seen.filter((r) => r.outOfRange === true).length;
      expect(flagged).toBe(resent);
      expect(consumer.metrics().recordsOutOfRangeDelivered).toBe(resent);
      // First-seen order per key: every record not seen before is the next one of its key.
      const next = new Map<string, number>();
      const first = new Set<string>();
      for (const record of seen) {
        const value = text(record);
        if (first.has(value)) continue;
        first.add(value);
        const [key, n] = value.split(':') as [string, string];
        expect(Number(n)).toBe(next.get(key) ?? 0);
        next.set(key, Number(n) + 1);
      }
    } finally {
      await consumer.stop({ timeoutMs: 5_000 });
    }
  });
});
