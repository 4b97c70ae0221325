/**
 * The shard consumer fed by the fan-out subscriber (fake SubscribeToShard): the same resume, de-aggregation
 * and shard-end path as with polling.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { RecordAggregator } from '@shardline/aggregation';
import { afterEach, describe, expect, it } from 'vitest';
import { TypedEvents } from '../src/events.js';
import type { KinesisConsumerOptions, RecordProcessor } from '../src/index.js';
import { LeaseRenewer } from '../src/leases/LeaseRenewer.js';
import { ShardConsumer } from '../src/lifecycle/ShardConsumer.js';
import { Counters } from '../src/metrics.js';
import { resolveOptions } from '../src/options.js';
import { FanOutSubscriber } from '../src/retrieval/FanOutSubscriber.js';
import { type FakeSubscription, fakeFanOutKinesis, record } from './fixtures/fakeFanOut.js';
import { InMemoryLeaseStore } from './fixtures/InMemoryLeaseStore.js';
import { waitFor } from './helpers.js';

const consumers: ShardConsumer[] = [];
afterEach(() => {
  for (const consumer of consumers.splice(0)) consumer.requestShutdown();
});

function aggregate(payloads: string[]): Uint8Array {
  const aggregator = new RecordAggregator({ emitSingleRecordRaw: false });
  for (const payload of payloads) aggregator.add({ partitionKey: `pk-${payload}`, data: payload });
  const out = aggregator.flush();
  if (!out) throw new Error('no aggregate');
  return out.data;
}

async function start(
  checkpoint: { checkpoint: string; checkpointSubSequenceNumber?: number },
  processor: RecordProcessor,
  onSubscribe: (subscription: FakeSubscription, index: number) => void,
) {
  const store = new InMemoryLeaseStore();
  await store.createLeaseIfNotExists({ leaseKey: 's', ...checkpoint });
  const initial = await store.getLease('s');
  const lease = initial && (await store.takeLease(initial, 'w'));
  if (!lease) throw new Error('not taken');
  const renewer = new LeaseRenewer({
    store,
    workerId: 'w',
    failoverTimeMs: 60_000,
    renewIntervalMs: 20_000,
    maxConcurrentRenewals: 1,
    now: () => 0,
    onLost: () => {},
  });
  renewer.add(lease, 0);
  const fake = fakeFanOutKinesis(onSubscribe);
  const options = resolveOptions({
    kinesisClient: fake.client,
    dynamoDBClient: { send: async () => ({}) },
    streamName: 'stream',
    applicationName: 'app-table',
    workerId: 'w',
    processor,
  } as unknown as KinesisConsumerOptions);
  const consumer = new ShardConsumer({
    lease,
    options,
    store,
    renewer,
    processor,
    events: new TypedEvents(),
    counters: new Counters(),
    hashKeyRange: undefined,
    createRecordSource: ({ shardId, start }) =>
      new FanOutSubscriber({
        kinesis: fake.client as KinesisClient,
        consumerArn: 'arn',
        shardId,
        start,
        maxPrefetchBatches: 3,
        maxPrefetchBytes: 1_000_000,
        readTimeoutMs: 5_000,
        minSubscribeIntervalMs: 10,
        resourceInUseWaitMs: 10,
        backoffBaseMs: 1,
        backoffMaxMs: 10,
        now: () => performance.now(),
      }),
    onChildShards: async () => {},
  });
  consumers.push(consumer);
  return { consumer, outcome: consumer.run(), store, subscriptions: fake.subscriptions };
}

const text = (data: Uint8Array) => new TextDecoder().decode(data);

describe('ShardConsumer on fan-out', () => {
  it('resumes inside an aggregate from a sub-sequence checkpoint: AT_SEQUENCE_NUMBER, done sub-records skipped', async () => {
    const seen: string[] = [];
    const payloads = Array.from({ length: 10 }, (_, i) => `a${i}`);
    const { subscriptions, consumer } = await start(
      { checkpoint: '100', checkpointSubSequenceNumber: 4 },
      {
        processRecords: async ({ records, checkpointer }) => {
          for (const r of records) seen.push(text(r.data));
          await checkpointer.checkpoint();
        },
        shardEnded: ({ checkpointer }) => checkpointer.checkpoint(),
      },
      (s) =>
        s.push({
          Records: [
            { SequenceNumber: '100', PartitionKey: 'agg', Data: aggregate(payloads) },
            { ...record('200'), Data: new TextEncoder().encode('b') },
          ],
          ContinuationSequenceNumber: '200',
        }),
    );
    await waitFor(() => seen.length >= 6, 5_000, 'records after the checkpoint');
    expect(seen).toEqual(['a5', 'a6', 'a7', 'a8', 'a9', 'b']);
    expect(subscriptions[0]?.input.StartingPosition).toEqual({
      Type: 'AT_SEQUENCE_NUMBER',
      SequenceNumber: '100',
    });
    expect(consumer.state).toBe('processing');
    expect(consumer.lastCheckpoint).toBe('200');
  });

  it('at the event without continuation: child leases, shardEnded, SHARD_END (the polling path)', async () => {
    const children: string[][] = [];
    const { outcome, store } = await start(
      { checkpoint: 'TRIM_HORIZON' },
      {
        processRecords: async () => {},
        shardEnded: async ({ checkpointer, childShardIds }) => {
          children.push(childShardIds);
          await checkpointer.checkpoint();
        },
      },
      (s) =>
        s.push({ Records: [record('1')], ContinuationSequenceNumber: '1' }).push({
          Records: [],
          ChildShards: [{ ShardId: 'c1', ParentShards: ['s'], HashKeyRange: undefined }],
        }),
    );
    expect(await outcome).toBe('shard-ended');
    expect(children).toEqual([['c1']]);
    expect((await store.getLease('s'))?.checkpoint).toBe('SHARD_END');
  });
});
