import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  CheckpointOutOfRangeError,
  ConfigurationError,
  KinesisConsumer,
  type KinesisConsumerOptions,
  LeaseLostError,
} from '../src/index.js';
import { LeaseRenewer } from '../src/leases/LeaseRenewer.js';
import { ShardCheckpointer } from '../src/lifecycle/Checkpointer.js';
import { PollingFetcher, type StartingPosition } from '../src/retrieval/PollingFetcher.js';
import { InMemoryLeaseStore } from './fixtures/InMemoryLeaseStore.js';

const fakeClient = { send: async () => ({}) } as unknown as KinesisClient;
const base = {
  kinesisClient: fakeClient,
  dynamoDBClient: { send: async () => ({}) },
  streamName: 'stream',
  applicationName: 'app-table',
  processor: async () => {},
} as unknown as KinesisConsumerOptions;

describe('options', () => {
  it.each([
    [{ streamName: undefined }, /streamName/],
    [{ streamARN: 'arn:aws:kinesis:us-east-1:123456789012:stream/x' }, /exactly one/],
    [{ applicationName: 'a' }, /applicationName/],
    [{ processor: {} }, /processor/],
    [{ failoverTimeMs: 0 }, /failoverTimeMs/],
    [{ failoverTimeMs: 1_000, renewIntervalMs: 1_000 }, /renewIntervalMs/],
    [{ failoverTimeMs: 1_000, renewIntervalMs: 501 }, /renewIntervalMs must be an integer in 10\.\.500/],
    [{ maxRecords: 10_001 }, /maxRecords/],
    [{ initialPosition: 'EARLIEST' }, /initialPosition/],
    [{ processingRetry: { maxAttempts: 0 } }, /maxAttempts/],
    [{ onProcessingFailure: 'ignore' }, /onProcessingFailure/],
    [{ maxLeaseDeletesPerSync: -1 }, /maxLeaseDeletesPerSync must be an integer in 0\.\.1000/],
    [{ maxLeaseDeletesPerSync: 2.5 }, /maxLeaseDeletesPerSync/],
    [{ onProcessingFailure: 'release' }, /'release' was removed/],
    [{ deadLetter: 'dlq' }, /deadLetter must be a function .*\(got "dlq"\)$/],
    [{ maxRecords: 0 }, /maxRecords must be an integer in 1\.\.10000 \(got 0\)$/],
    [{ initialPosition: 'EARLIEST' }, /\(got "EARLIEST"\)$/],
    [{ applicationName: 'a' }, /\(got "a"\)$/],
  ])('rejects %o', (patch, message) => {
    const options = { ...base, ...patch } as unknown as KinesisConsumerOptions;
    expect(() => new KinesisConsumer(options)).toThrow(ConfigurationError);
    expect(() => new KinesisConsumer(options)).toThrow(message);
  });

  it('accepts the minimal options', () => {
    const consumer = new KinesisConsumer(base);
    expect(consumer.workerId).toMatch(/:/);
    expect(consumer.metrics().leasesHeld).toBe(0);
  });
});

describe('ShardCheckpointer', () => {
  async function setup() {
    const store = new InMemoryLeaseStore();
    await store.createLeaseIfNotExists({ leaseKey: 's', checkpoint: 'TRIM_HORIZON' });
    const clock = { now: 0 };
    const renewer = new LeaseRenewer({
      store,
      workerId: 'w',
      failoverTimeMs: 10_000,
      renewIntervalMs: 3_000,
      maxConcurrentRenewals: 1,
      now: () => clock.now,
      onLost: () => {},
    });
    const lease = await store.getLease('s');
    if (!lease) throw new Error('no lease');
    const taken = await store.takeLease(lease, 'w');
    if (!taken) throw new Error('not taken');
    renewer.add(taken, 0);
    const checkpointer = new ShardCheckpointer({
      shardId: 's',
      workerId: 'w',
      store,
      renewer,
      initial: { checkpoint: 'TRIM_HORIZON', subSequenceNumber: 0 },
      maxAttempts: 2,
      backoffBaseMs: 1,
      backoffMaxMs: 2,
    });
    return { store, checkpointer, renewer };
  }

  const rec = (sequenceNumber: string, subSequenceNumber = 0) => ({ sequenceNumber, subSequenceNumber });

  it('checkpoint() covers whole aggregates; checkpoint(seq) of an aggregate stores its last sub-sequence', async () => {
    const { store, checkpointer } = await setup();
    await checkpointer.checkpoint(); // nothing delivered: nothing written
    expect((await store.getLease('s'))?.checkpoint).toBe('TRIM_HORIZON');
    const records = [rec('100', 0), rec('100', 1), rec('100', 2), rec('200', 0)];
    checkpointer.markDelivered(records, (i) => i < 3);
    await checkpointer.checkpoint('100');
    expect(await store.getLease('s')).toMatchObject({ checkpoint: '100', checkpointSubSequenceNumber: 2 });
    await checkpointer.checkpoint();
    expect(await store.getLease('s')).toMatchObject({ checkpoint: '200', checkpointSubSequenceNumber: 0 });
  });

  it('checkpoint(seq) without a sub-sequence number covers the user records of that aggregate delivered so far', async () => {
    const { store, checkpointer } = await setup();
    const aggregate = [rec('100', 0), rec('100', 1), rec('100', 2), rec('100', 3)];
    checkpointer.markDelivered(aggregate, () => true);
    // A retry hands out only the first two user records again (the delivered range was taken back).
    checkpointer.rewindDelivered(undefined);
    checkpointer.markDelivered(aggregate.slice(0, 2), () => true);
    await checkpointer.checkpoint('100');
    expect(await store.getLease('s')).toMatchObject({ checkpoint: '100', checkpointSubSequenceNumber: 1 });
    expect(checkpointer.lastCheckpointed).toEqual(rec('100', 1));
    checkpointer.markDelivered(aggregate.slice(2), () => true);
    await checkpointer.checkpoint('100');
    expect(await store.getLease('s')).toMatchObject({ checkpoint: '100', checkpointSubSequenceNumber: 3 });
  });

  it('rejects checkpoints outside [last checkpoint, last delivered] and non-numeric ones', async () => {
    const { store, checkpointer } = await setup();
    checkpointer.markDelivered([rec('100'), rec('300')], () => false);
    await checkpointer.checkpoint('300');
    await expect(checkpointer.checkpoint('100')).rejects.toBeInstanceOf(CheckpointOutOfRangeError);
    await expect(checkpointer.checkpoint('400')).rejects.toBeInstanceOf(CheckpointOutOfRangeError);
    await expect(checkpointer.checkpoint('SHARD_END')).rejects.toBeInstanceOf(CheckpointOutOfRangeError);
    await expect(checkpointer.checkpoint('300', -1)).rejects.toBeInstanceOf(CheckpointOutOfRangeError);
    // Sequence numbers compare as BigInt, not as strings: '99' < '300'.
    checkpointer.markDelivered([rec('1000')], () => false);
    await checkpointer.checkpoint('1000');
    expect((await store.getLease('s'))?.checkpoint).toBe('1000');
  });

  it('at shard end checkpoint() writes SHARD_END; after losing the lease it rejects with LeaseLostError', async () => {
    const { store, checkpointer } = await setup();
    checkpointer.markDelivered([rec('5')], () => false);
    checkpointer.enterShardEnd();
    await checkpointer.checkpoint();
    expect((await store.getLease('s'))?.checkpoint).toBe('SHARD_END');
    expect(checkpointer.isAtShardEnd).toBe(true);

    const other = await setup();
    other.checkpointer.markDelivered([rec('5')], () => false);
    const lease = await other.store.getLease('s');
    if (!lease) throw new Error('no lease');
    await other.store.takeLease(lease, 'thief');
    await expect(other.checkpointer.checkpoint()).rejects.toBeInstanceOf(LeaseLostError);
    expect((await other.store.getLease('s'))?.checkpoint).toBe('TRIM_HORIZON');
    // Fenced for good.
    await expect(other.checkpointer.checkpoint()).rejects.toBeInstanceOf(LeaseLostError);
  });
});

describe('PollingFetcher', () => {
  it('stops calling GetRecords while the prefetch queue is full, and paces calls', async () => {
    let calls = 0;
    let seq = 0;
    const client = {
      send: async (command: { constructor: { name: string } }) => {
        if (command.constructor.name === 'GetShardIteratorCommand') return { ShardIterator: 'it' };
        calls++;
        seq++;
        return {
          Records: [{ SequenceNumber: String(seq), PartitionKey: 'k', Data: new Uint8Array(10) }],
          NextShardIterator: 'it',
          MillisBehindLatest: 1_000,
        };
      },
    } as unknown as KinesisClient;
    const fetcher = new PollingFetcher({
      kinesis: client,
      stream: { StreamName: 's' },
      shardId: 'shard',
      start: { type: 'TRIM_HORIZON' },
      maxRecords: 100,
      idleTimeBetweenReadsMs: 1_000,
      minCallIntervalMs: 20,
      maxPrefetchBatches: 3,
      maxPrefetchBytes: 1_000_000,
      backoffBaseMs: 1,
      backoffMaxMs: 2,
      now: () => performance.now(),
    });
    fetcher.start();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(calls).toBe(3); // full: no more calls however long we wait
    const first = await fetcher.next();
    expect(first?.records[0]?.SequenceNumber).toBe('1');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(calls).toBe(4);
    await fetcher.stop();
    expect(await fetcher.next()).toBeUndefined();
  });

  it('replaces an expired iterator with one after the last record fetched', async () => {
    const iteratorRequests: Array<Record<string, unknown>> = [];
    let getRecords = 0;
    const client = {
      send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
        if (command.constructor.name === 'GetShardIteratorCommand') {
          iteratorRequests.push(command.input);
          return { ShardIterator: `it-${iteratorRequests.length}` };
        }
        getRecords++;
        if (getRecords === 2) throw Object.assign(new Error('expired'), { name: 'ExpiredIteratorException' });
        return {
          Records: [{ SequenceNumber: String(getRecords), PartitionKey: 'k', Data: new Uint8Array(1) }],
          NextShardIterator: getRecords >= 3 ? undefined : 'next',
          MillisBehindLatest: 0,
        };
      },
    } as unknown as KinesisClient;
    const fetcher = new PollingFetcher({
      kinesis: client,
      stream: { StreamName: 's' },
      shardId: 'shard',
      start: { type: 'AT_SEQUENCE_NUMBER', sequenceNumber: '1' },
      maxRecords: 100,
      idleTimeBetweenReadsMs: 1,
      minCallIntervalMs: 1,
      maxPrefetchBatches: 10,
      maxPrefetchBytes: 1_000_000,
      backoffBaseMs: 1,
      backoffMaxMs: 2,
      now: () => performance.now(),
    });
    fetcher.start();
    const a = await fetcher.next();
    const b = await fetcher.next();
    expect(a?.records[0]?.SequenceNumber).toBe('1');
    expect(b?.records[0]?.SequenceNumber).toBe('3');
    expect(b?.shardEnded).toBe(true);
    expect(iteratorRequests.map((r) => [r.ShardIteratorType, r.StartingSequenceNumber])).toEqual([
      ['AT_SEQUENCE_NUMBER', '1'],
      ['AFTER_SEQUENCE_NUMBER', '1'],
    ]);
    expect(await fetcher.next()).toBeUndefined();
  });

  type Command = { constructor: { name: string }; input: Record<string, unknown> };
  const fetcherOptions = (client: KinesisClient, start: StartingPosition, now = () => performance.now()) => ({
    kinesis: client,
    stream: { StreamName: 's' },
    shardId: 'shard',
    start,
    maxRecords: 100,
    idleTimeBetweenReadsMs: 1,
    minCallIntervalMs: 1,
    maxPrefetchBatches: 10,
    maxPrefetchBytes: 1_000_000,
    backoffBaseMs: 1,
    backoffMaxMs: 2,
    now,
  });

  it('from LATEST, transient failures before the first record keep the iterator (re-acquiring would skip)', async () => {
    const iteratorRequests: unknown[] = [];
    const used: unknown[] = [];
    let getRecords = 0;
    const client = {
      send: async (command: Command) => {
        if (command.constructor.name === 'GetShardIteratorCommand') {
          iteratorRequests.push(command.input.ShardIteratorType);
          return { ShardIterator: 'latest-0' };
        }
        getRecords++;
        used.push(command.input.ShardIterator);
        if (getRecords === 1) return { Records: [], NextShardIterator: 'latest-1', MillisBehindLatest: 0 };
        if (getRecords <= 5) throw Object.assign(new Error('unavailable'), { name: 'ServiceUnavailable' });
        return {
          Records: [{ SequenceNumber: '7', PartitionKey: 'k', Data: new Uint8Array(1) }],
          NextShardIterator: 'latest-2',
          MillisBehindLatest: 0,
        };
      },
    } as unknown as KinesisClient;
    const fetcher = new PollingFetcher(fetcherOptions(client, { type: 'LATEST' }));
    fetcher.start();
    const first = await fetcher.next();
    await fetcher.stop();
    expect(first?.records[0]?.SequenceNumber).toBe('7');
    expect(iteratorRequests).toEqual(['LATEST']); // never a second LATEST iterator
    expect(used.slice(0, 6)).toEqual([
      'latest-0',
      'latest-1',
      'latest-1',
      'latest-1',
      'latest-1',
      'latest-1',
    ]);
  });

  describe('with fake timers', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('backs off on repeated expired iterators instead of spinning on GetShardIterator', async () => {
      vi.useFakeTimers();
      let iteratorRequests = 0;
      const client = {
        send: async (command: Command) => {
          if (command.constructor.name === 'GetShardIteratorCommand') {
            iteratorRequests++;
            return { ShardIterator: 'it' };
          }
          throw Object.assign(new Error('expired'), { name: 'ExpiredIteratorException' });
        },
      } as unknown as KinesisClient;
      const fetcher = new PollingFetcher({
        ...fetcherOptions(client, { type: 'TRIM_HORIZON' }, () => Date.now()),
        backoffBaseMs: 100,
        backoffMaxMs: 1_000,
      });
      fetcher.start();
      await vi.advanceTimersByTimeAsync(1_000);
      const stopped = fetcher.stop();
      await vi.advanceTimersByTimeAsync(10);
      await stopped;
      // Without backoff: one GetShardIterator per millisecond (the GetRecords pacing), about 1,000.
      expect(iteratorRequests).toBeGreaterThan(1);
      expect(iteratorRequests).toBeLessThan(50);
    });
  });
});
