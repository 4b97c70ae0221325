import { createRequire } from 'node:module';
import { PutRecordCommand, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { RecordAggregator } from '@shardline/aggregation';
import { createStream, uniqueName } from '@shardline/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import type { ConsumerEvents, KinesisConsumerOptions, UserRecord } from '../src/index.js';
import { localStack, makeConsumer, waitFor } from './helpers.js';

const stack = localStack();
afterAll(() => stack.destroy());

interface AwsAggregator {
  addUserRecord(record: { partitionKey: string; data: Buffer }): void;
  build(): { partitionKey: string; data: Buffer | string } | undefined;
  length(): number;
}
const awsAgg = createRequire(import.meta.url)('aws-kinesis-agg') as {
  RecordAggregator: new () => AwsAggregator;
};

/** 2,200 user records with random partition keys, aggregated by aws-kinesis-agg (not shard-aware). */
async function writeMixedAggregates(streamName: string): Promise<string[]> {
  const written: string[] = [];
  const aggregator = new awsAgg.RecordAggregator();
  const entries: Array<{ PartitionKey: string; Data: Uint8Array }> = [];
  const flush = (): void => {
    const built = aggregator.build();
    if (!built) return;
    const data = typeof built.data === 'string' ? Buffer.from(built.data, 'base64') : built.data;
    entries.push({ PartitionKey: built.partitionKey, Data: data });
  };
  for (let i = 0; i < 2_200; i++) {
    const value = `r${i}`;
    aggregator.addUserRecord({ partitionKey: `key-${(i * 7919) % 1000}`, data: Buffer.from(value) });
    written.push(value);
    if (aggregator.length() === 100) flush();
  }
  flush();
  const response = await stack.kinesis.send(
    new PutRecordsCommand({ StreamName: streamName, Records: entries }),
  );
  expect(response.FailedRecordCount ?? 0).toBe(0);
  return written;
}

async function consume(
  streamName: string,
  options: Partial<KinesisConsumerOptions>,
  until: (seen: UserRecord[], events: ConsumerEvents['recordsOutOfRange'][]) => boolean,
) {
  const seen: UserRecord[] = [];
  const events: ConsumerEvents['recordsOutOfRange'][] = [];
  const consumer = makeConsumer(stack, {
    streamName,
    applicationName: uniqueName('app'),
    initialPosition: 'TRIM_HORIZON',
    processor: async (records) => {
      seen.push(...records);
    },
    ...options,
  });
  consumer.on('recordsOutOfRange', (event) => events.push(event));
  await consumer.start();
  try {
    await waitFor(() => until(seen, events), 30_000, 'records consumed');
    await new Promise((resolve) => setTimeout(resolve, 500));
    return { seen, events, metrics: consumer.metrics() };
  } finally {
    await consumer.stop({ timeoutMs: 5_000 });
  }
}

const text = (record: UserRecord): string => new TextDecoder().decode(record.data);

describe('user records outside their shard’s hash range', () => {
  it('aws-kinesis-agg aggregates of mixed keys on 4 shards: every user record reaches the processor by default', async () => {
    const streamName = uniqueName('mixed');
    await createStream(stack.kinesis, { streamName, shardCount: 4 });
    const written = await writeMixedAggregates(streamName);
    const { seen, events, metrics } = await consume(
      streamName,
      {},
      (s) => new Set(s.map(text)).size >= written.length,
    );
    expect(new Set(seen.map(text))).toEqual(new Set(written));
    const flagged = seen.filter((record) => record.outOfRange === true).length;
    // About three quarters of a mixed aggregate's members belong to other shards: all delivered, flagged, counted.
    expect(flagged).toBeGreaterThan(written.length / 2);
    expect(metrics.recordsOutOfRangeDelivered).toBe(flagged);
    expect(metrics.recordsOutOfRangeDropped).toBe(0);
    expect(events.every((event) => event.delivered)).toBe(true);
    expect(events.reduce((n, event) => n + event.count, 0)).toBe(flagged);
    expect(metrics.shards.reduce((n, shard) => n + shard.recordsOutOfRange, 0)).toBe(flagged);
  });

  it("with outOfRangeRecords: 'drop' the out-of-range ones are counted per shard and not delivered", async () => {
    const streamName = uniqueName('mixed-drop');
    await createStream(stack.kinesis, { streamName, shardCount: 4 });
    const written = await writeMixedAggregates(streamName);
    const { seen, events, metrics } = await consume(
      streamName,
      { outOfRangeRecords: 'drop' },
      (s, e) => s.length + e.reduce((n, event) => n + event.count, 0) >= written.length,
    );
    const dropped = metrics.recordsOutOfRangeDropped;
    expect(dropped).toBeGreaterThan(written.length / 2);
    expect(seen.length + dropped).toBe(written.length);
    expect(new Set(seen.map(text)).size).toBe(seen.length);
    expect(seen.some((record) => record.outOfRange)).toBe(false);
    expect(events.every((event) => !event.delivered)).toBe(true);
    expect(metrics.recordsOutOfRangeDelivered).toBe(0);
  });

  it('an aggregate with explicit hash keys on both sides of the range: in-range ones delivered plain, the others flagged', async () => {
    const streamName = uniqueName('filter');
    await createStream(stack.kinesis, { streamName, shardCount: 2 });
    const aggregator = new RecordAggregator({ emitSingleRecordRaw: false });
    const high = ((1n << 127n) + 5n).toString();
    aggregator.add({ partitionKey: 'p', explicitHashKey: '10', data: 'in-0' });
    aggregator.add({ partitionKey: 'p', explicitHashKey: high, data: 'out-1' });
    aggregator.add({ partitionKey: 'p', explicitHashKey: '20', data: 'in-2' });
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
    const { seen, events } = await consume(streamName, {}, (s) => s.length >= 3);
    expect(seen.map((r) => `${text(r)}@${r.subSequenceNumber}:${r.outOfRange === true}`)).toEqual([
      'in-0@0:false',
      'out-1@1:true',
      'in-2@2:false',
    ]);
    expect(events).toEqual([{ shardId: 'shardId-000000000000', count: 1, delivered: true }]);
  });
});
