import type { _Record, KinesisClient } from '@aws-sdk/client-kinesis';
import { describe, expect, it } from 'vitest';
import { TypedEvents } from '../src/events.js';
import type { KinesisConsumerOptions, RecordProcessor } from '../src/index.js';
import { LeaseRenewer } from '../src/leases/LeaseRenewer.js';
import { ShardConsumer } from '../src/lifecycle/ShardConsumer.js';
import { Counters } from '../src/metrics.js';
import { resolveOptions } from '../src/options.js';
import type { FetchedBatch, ShardRecordSource } from '../src/retrieval/ShardRecordSource.js';
import { InMemoryLeaseStore } from './fixtures/InMemoryLeaseStore.js';

/** A fetcher handing out fixed batches, then waiting until stopped. */
function fakeFetcher(batches: FetchedBatch[]): ShardRecordSource {
  let wake: (() => void) | undefined;
  let stopped = false;
  const fetcher = {
    millisBehindLatest: 0,
    start(): void {},
    async stop(): Promise<void> {
      stopped = true;
      wake?.();
    },
    async next(): Promise<FetchedBatch | undefined> {
      if (stopped) return undefined;
      const batch = batches.shift();
      if (batch) return batch;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      return undefined;
    },
  };
  return fetcher;
}

function batch(sequenceNumbers: string[], shardEnded = false): FetchedBatch {
  const records: _Record[] = sequenceNumbers.map((SequenceNumber) => ({
    SequenceNumber,
    PartitionKey: 'k',
    Data: new Uint8Array(1),
  }));
  return { records, millisBehindLatest: 0, shardEnded, childShards: [], bytes: records.length };
}

async function run(processor: RecordProcessor, batches: FetchedBatch[]) {
  const store = new InMemoryLeaseStore();
  await store.createLeaseIfNotExists({ leaseKey: 's', checkpoint: 'TRIM_HORIZON' });
  const initial = await store.getLease('s');
  if (!initial) throw new Error('no lease');
  const lease = await store.takeLease(initial, 'w');
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
  const events = new TypedEvents();
  const options = resolveOptions({
    kinesisClient: { send: async () => ({}) } as unknown as KinesisClient,
    dynamoDBClient: { send: async () => ({}) },
    streamName: 'stream',
    applicationName: 'app-table',
    workerId: 'w',
    processor,
    processingRetry: { maxAttempts: 5, baseDelayMs: 60_000, maxDelayMs: 60_000 },
  } as unknown as KinesisConsumerOptions);
  const consumer = new ShardConsumer({
    lease,
    options,
    store,
    renewer,
    processor,
    events,
    counters: new Counters(),
    hashKeyRange: undefined,
    createRecordSource: () => fakeFetcher(batches),
    onChildShards: async () => {},
  });
  // stop() arrives while the processor's failure is being handled (as during its backoff).
  events.on('processingError', () => consumer.requestShutdown());
  const outcome = await consumer.run();
  return { outcome, checkpoint: (await store.getLease('s'))?.checkpoint };
}

describe('ShardConsumer', () => {
  it('a stop during the retry of a failed batch does not let shutdownRequested checkpoint that batch', async () => {
    const calls: string[] = [];
    const processor: RecordProcessor = {
      processRecords: async ({ records, checkpointer }) => {
        const first = records[0]?.sequenceNumber ?? '';
        calls.push(first);
        if (first === '200') throw new Error('downstream unavailable');
        await checkpointer.checkpoint();
      },
      shardEnded: ({ checkpointer }) => checkpointer.checkpoint(),
      shutdownRequested: ({ checkpointer }) => checkpointer.checkpoint(),
    };
    const { outcome, checkpoint } = await run(processor, [batch(['100']), batch(['200', '300'])]);
    expect(calls).toEqual(['100', '200']);
    expect(outcome).toBe('shutdown');
    expect(checkpoint).toBe('100'); // not '300': that batch was never processed
  });

  it('a stop during the retry of a failed shardEnded does not let shutdownRequested write SHARD_END', async () => {
    const processor: RecordProcessor = {
      processRecords: async () => {},
      shardEnded: async () => {
        throw new Error('flush failed');
      },
      shutdownRequested: ({ checkpointer }) => checkpointer.checkpoint(),
    };
    const { outcome, checkpoint } = await run(processor, [batch(['100']), batch(['200'], true)]);
    expect(outcome).toBe('shutdown');
    expect(checkpoint).toBe('200'); // everything delivered, but not SHARD_END: shardEnded never completed
  });
});
