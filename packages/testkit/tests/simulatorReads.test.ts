import {
  DescribeStreamCommand,
  ExpiredIteratorException,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  type GetShardIteratorCommandInput,
  InvalidArgumentException,
  KinesisClient,
  ListShardsCommand,
  MergeShardsCommand,
  ProvisionedThroughputExceededException,
  PutRecordsCommand,
  ResourceNotFoundException,
  SplitShardCommand,
  ValidationException,
} from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KinesisSimulator, LOCAL_CREDENTIALS, startKinesisSimulator } from '../src/index.js';

const MiB = 1024 * 1024;

async function errorOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail');
}

/** Puts `count` records with keys `${prefix}-i` and data `${prefix}-i` (explicit hash key 0 when `toFirst`). */
async function put(client: KinesisClient, stream: string, prefix: string, count: number, size = 0) {
  const sequenceNumbers: string[] = [];
  for (let start = 0; start < count; start += 500) {
    const n = Math.min(500, count - start);
    const response = await client.send(
      new PutRecordsCommand({
        StreamName: stream,
        Records: Array.from({ length: n }, (_, i) => ({
          PartitionKey: `${prefix}-${start + i}`,
          ExplicitHashKey: '0',
          Data: size > 0 ? Buffer.alloc(size, 1) : Buffer.from(`${prefix}-${start + i}`),
        })),
      }),
    );
    expect(response.FailedRecordCount).toBe(0);
    for (const entry of response.Records ?? []) sequenceNumbers.push(entry.SequenceNumber ?? '');
  }
  return sequenceNumbers;
}

async function iterator(client: KinesisClient, input: GetShardIteratorCommandInput): Promise<string> {
  const { ShardIterator } = await client.send(new GetShardIteratorCommand(input));
  if (!ShardIterator) throw new Error('no iterator');
  return ShardIterator;
}

/** Reads a shard until NextShardIterator is null or a response is empty; returns the data and the last response. */
async function drain(client: KinesisClient, start: string, advance: () => void) {
  const data: string[] = [];
  let next: string | undefined = start;
  let last: GetRecordsCommandOutput | undefined;
  for (let calls = 0; next && calls < 100; calls++) {
    advance();
    last = await client.send(new GetRecordsCommand({ ShardIterator: next }));
    for (const record of last.Records ?? []) data.push(Buffer.from(record.Data ?? []).toString());
    next = last.NextShardIterator;
    if ((last.Records ?? []).length === 0) break;
  }
  return { data, last };
}

describe('simulator reads through the real KinesisClient', () => {
  let sim: KinesisSimulator;
  let client: KinesisClient;
  let clock = 0;
  /** Moves the fake clock past every read window, so a test that does not test limits is never throttled. */
  const tick = () => {
    clock += 1_000;
  };

  beforeAll(async () => {
    sim = await startKinesisSimulator({ shardLimits: false, now: () => clock, iteratorLifetimeMs: 10_000 });
    client = sim.createClient({ maxAttempts: 1 });
  });
  afterAll(() => sim.stop());

  it('reads back what was put, in order, over HTTP/1.1 and with the default HTTP/2 client', async () => {
    sim.createStream('read', 2);
    const written = await put(client, 'read', 'r', 1_200);
    const start = await iterator(client, {
      StreamName: 'read',
      ShardId: 'shardId-000000000000',
      ShardIteratorType: 'TRIM_HORIZON',
    });
    const { data, last } = await drain(client, start, tick);
    expect(data).toEqual(Array.from({ length: 1_200 }, (_, i) => `r-${i}`));
    expect(last?.MillisBehindLatest).toBe(0);
    expect(last?.NextShardIterator).toBeDefined();

    // The SDK's default handler (HTTP/2 with prior knowledge on an http:// endpoint), unchanged.
    const http2 = new KinesisClient({
      endpoint: sim.endpoint,
      region: sim.region,
      credentials: LOCAL_CREDENTIALS,
      maxAttempts: 1,
    });
    try {
      tick();
      const response = await http2.send(new GetRecordsCommand({ ShardIterator: start }));
      // Well above the ~30 KB at which HTTP/2 responses from kinesis-local fail.
      expect(response.Records?.length).toBe(1_200);
      expect(response.Records?.[0]?.SequenceNumber).toBe(written[0]);
      expect(response.Records?.[0]?.ApproximateArrivalTimestamp).toBeInstanceOf(Date);
      expect(response.Records?.[0]?.PartitionKey).toBe('r-0');
    } finally {
      http2.destroy();
    }
    expect(sim.stats().readRecords).toBeGreaterThanOrEqual(2_400);
  });

  it('starts at every iterator type', async () => {
    sim.createStream('types', 1);
    const written = await put(client, 'types', 't', 10);
    const shard = { StreamName: 'types', ShardId: 'shardId-000000000000' };
    const read = async (input: Partial<GetShardIteratorCommandInput>) => {
      tick();
      const start = await iterator(client, { ...shard, ShardIteratorType: 'LATEST', ...input });
      return (await drain(client, start, tick)).data;
    };
    expect(
      await read({ ShardIteratorType: 'AT_SEQUENCE_NUMBER', StartingSequenceNumber: written[3] }),
    ).toEqual(['t-3', 't-4', 't-5', 't-6', 't-7', 't-8', 't-9']);
    expect(
      await read({ ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: written[8] }),
    ).toEqual(['t-9']);
    expect(await read({ ShardIteratorType: 'TRIM_HORIZON' })).toHaveLength(10);

    const latest = await iterator(client, { ...shard, ShardIteratorType: 'LATEST' });
    const cut = new Date();
    await new Promise((resolve) => setTimeout(resolve, 5));
    await put(client, 'types', 'later', 2);
    expect((await drain(client, latest, tick)).data).toEqual(['later-0', 'later-1']);
    expect(await read({ ShardIteratorType: 'AT_TIMESTAMP', Timestamp: cut })).toEqual(['later-0', 'later-1']);
    expect(
      await read({ ShardIteratorType: 'AT_TIMESTAMP', Timestamp: new Date(Date.now() + 60_000) }),
    ).toEqual([]);

    const unknownShard = await errorOf(read({ ShardId: 'shardId-000000000009' }));
    expect(unknownShard).toBeInstanceOf(ResourceNotFoundException);
    const noSequence = await errorOf(read({ ShardIteratorType: 'AT_SEQUENCE_NUMBER' }));
    expect(noSequence).toBeInstanceOf(InvalidArgumentException);
    tick();
    const badIterator = await errorOf(client.send(new GetRecordsCommand({ ShardIterator: 'nope' })));
    expect(badIterator).toBeInstanceOf(InvalidArgumentException);
  });

  it('throttles a burst beyond 5 calls per second per shard, counting refusals, and recovers', async () => {
    sim.createStream('burst', 2);
    await put(client, 'burst', 'b', 3);
    tick();
    const start = await iterator(client, {
      StreamName: 'burst',
      ShardId: 'shardId-000000000000',
      ShardIteratorType: 'TRIM_HORIZON',
    });
    const other = await iterator(client, {
      StreamName: 'burst',
      ShardId: 'shardId-000000000001',
      ShardIteratorType: 'TRIM_HORIZON',
    });
    const before = sim.stats().readThrottled;
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, () => client.send(new GetRecordsCommand({ ShardIterator: start }))),
    );
    const refused = results.filter(
      (r) => r.status === 'rejected' && r.reason instanceof ProvisionedThroughputExceededException,
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    expect(refused).toHaveLength(7);
    expect(sim.stats().readThrottled - before).toBe(7);
    // Another shard has its own limit.
    await client.send(new GetRecordsCommand({ ShardIterator: other }));
    tick();
    await client.send(new GetRecordsCommand({ ShardIterator: start }));
  });

  it('returns at most 10,000 records per call and refuses a larger Limit', async () => {
    sim.createStream('many', 1);
    await put(client, 'many', 'm', 10_100);
    tick();
    const start = await iterator(client, {
      StreamName: 'many',
      ShardId: 'shardId-000000000000',
      ShardIteratorType: 'TRIM_HORIZON',
    });
    const first = await client.send(new GetRecordsCommand({ ShardIterator: start }));
    expect(first.Records).toHaveLength(10_000);
    expect(first.MillisBehindLatest).toBeGreaterThanOrEqual(0);
    tick();
    const rest = await client.send(new GetRecordsCommand({ ShardIterator: first.NextShardIterator }));
    expect(rest.Records).toHaveLength(100);
    tick();
    const limited = await client.send(new GetRecordsCommand({ ShardIterator: start, Limit: 7 }));
    expect(limited.Records).toHaveLength(7);
    tick();
    const tooMany = await errorOf(
      client.send(new GetRecordsCommand({ ShardIterator: start, Limit: 10_001 })),
    );
    expect(tooMany).toBeInstanceOf(ValidationException);
  });

  it('spends 2 MiB per second per shard: a 3 MiB read blocks the shard until the debt is repaid', async () => {
    sim.createStream('bytes', 1);
    await put(client, 'bytes', 'x', 3, MiB - 16);
    clock += 10_000;
    const start = await iterator(client, {
      StreamName: 'bytes',
      ShardId: 'shardId-000000000000',
      ShardIteratorType: 'TRIM_HORIZON',
    });
    const first = await client.send(new GetRecordsCommand({ ShardIterator: start }));
    expect(first.Records).toHaveLength(3);
    const next = first.NextShardIterator;
    clock += 400; // 2 MiB - 3 MiB + 0.8 MiB: still in debt
    expect(await errorOf(client.send(new GetRecordsCommand({ ShardIterator: next })))).toBeInstanceOf(
      ProvisionedThroughputExceededException,
    );
    clock += 200; // +0.4 MiB: above zero again
    const second = await client.send(new GetRecordsCommand({ ShardIterator: next }));
    expect(second.Records).toHaveLength(0);
  });

  it('expires iterators after the configured lifetime', async () => {
    sim.createStream('expiry', 1);
    await put(client, 'expiry', 'e', 1);
    tick();
    const start = await iterator(client, {
      StreamName: 'expiry',
      ShardId: 'shardId-000000000000',
      ShardIteratorType: 'TRIM_HORIZON',
    });
    clock += 10_000;
    const fresh = await client.send(new GetRecordsCommand({ ShardIterator: start }));
    expect(fresh.Records).toHaveLength(1);
    clock += 10_001;
    const expired = await errorOf(client.send(new GetRecordsCommand({ ShardIterator: start })));
    expect(expired).toBeInstanceOf(ExpiredIteratorException);
    // The iterator a call returns is new.
    expect(
      await errorOf(client.send(new GetRecordsCommand({ ShardIterator: fresh.NextShardIterator }))),
    ).toBeInstanceOf(ExpiredIteratorException);
  });

  it('ends a split parent with ChildShards and no NextShardIterator; children hold what came after', async () => {
    sim.createStream('split', 1);
    await put(client, 'split', 'before', 3);
    const parent = 'shardId-000000000000';
    await client.send(
      new SplitShardCommand({
        StreamName: 'split',
        ShardToSplit: parent,
        NewStartingHashKey: String(1n << 127n),
      }),
    );
    await put(client, 'split', 'after', 2);
    tick();
    const start = await iterator(client, {
      StreamName: 'split',
      ShardId: parent,
      ShardIteratorType: 'TRIM_HORIZON',
    });
    const response = await client.send(new GetRecordsCommand({ ShardIterator: start }));
    expect(response.Records?.map((r) => Buffer.from(r.Data ?? []).toString())).toEqual([
      'before-0',
      'before-1',
      'before-2',
    ]);
    expect(response.NextShardIterator).toBeUndefined();
    expect(response.MillisBehindLatest).toBe(0);
    expect(response.ChildShards?.map((c) => c.ShardId)).toEqual([
      'shardId-000000000001',
      'shardId-000000000002',
    ]);
    expect(response.ChildShards?.[0]?.ParentShards).toEqual([parent]);
    expect(response.ChildShards?.[1]?.HashKeyRange?.StartingHashKey).toBe(String(1n << 127n));
    // Explicit hash key 0 routes to the left child.
    tick();
    const left = await iterator(client, {
      StreamName: 'split',
      ShardId: 'shardId-000000000001',
      ShardIteratorType: 'TRIM_HORIZON',
    });
    expect((await drain(client, left, tick)).data).toEqual(['after-0', 'after-1']);
    // LATEST on the closed parent is its end.
    tick();
    const latest = await iterator(client, {
      StreamName: 'split',
      ShardId: parent,
      ShardIteratorType: 'LATEST',
    });
    const end = await client.send(new GetRecordsCommand({ ShardIterator: latest }));
    expect(end.Records).toEqual([]);
    expect(end.ChildShards).toHaveLength(2);

    await client.send(
      new MergeShardsCommand({
        StreamName: 'split',
        ShardToMerge: 'shardId-000000000001',
        AdjacentShardToMerge: 'shardId-000000000002',
      }),
    );
    tick();
    const merged = await client.send(new GetRecordsCommand({ ShardIterator: left }));
    expect(merged.ChildShards?.[0]?.ParentShards).toEqual(['shardId-000000000001', 'shardId-000000000002']);
    const described = await client.send(new DescribeStreamCommand({ StreamName: 'split' }));
    const shards = described.StreamDescription?.Shards ?? [];
    expect(shards.map((s) => s.ShardId)).toHaveLength(4);
    expect(shards.filter((s) => s.SequenceNumberRange?.EndingSequenceNumber)).toHaveLength(3);
    const open = await client.send(
      new ListShardsCommand({ StreamName: 'split', ShardFilter: { Type: 'AT_LATEST' } }),
    );
    expect(open.Shards?.map((s) => s.ShardId)).toEqual(['shardId-000000000003']);
    // A sequence number past a closed shard's end did not come from it.
    const afterEnd = await errorOf(
      iterator(client, {
        StreamName: 'split',
        ShardId: parent,
        ShardIteratorType: 'AT_SEQUENCE_NUMBER',
        StartingSequenceNumber: `49${'9'.repeat(54)}`,
      }),
    );
    expect(afterEnd).toBeInstanceOf(InvalidArgumentException);
    const notOpen = await errorOf(
      client.send(
        new SplitShardCommand({ StreamName: 'split', ShardToSplit: parent, NewStartingHashKey: '1' }),
      ),
    );
    expect(notOpen).toBeInstanceOf(ResourceNotFoundException);
  });
});

describe('simulator retention bound', () => {
  it('trims the oldest records beyond retainedBytesPerShard and counts them', async () => {
    const sim = await startKinesisSimulator({
      streams: [{ streamName: 'small', shardCount: 1 }],
      shardLimits: false,
      readLimits: false,
      retainedBytesPerShard: 10 * 1024,
    });
    try {
      const client = sim.createClient({ maxAttempts: 1 });
      await put(client, 'small', 'k', 20, 1024 - 4);
      expect(sim.stats().trimmedRecords).toBe(10);
      const start = await iterator(client, {
        StreamName: 'small',
        ShardId: 'shardId-000000000000',
        ShardIteratorType: 'TRIM_HORIZON',
      });
      const response = await client.send(new GetRecordsCommand({ ShardIterator: start }));
      expect(response.Records?.map((r) => r.PartitionKey)).toEqual(
        Array.from({ length: 10 }, (_, i) => `k-${i + 10}`),
      );
    } finally {
      await sim.stop();
    }
  });

  it('keeps nothing readable with retainedBytesPerShard 0 (write-only benchmarks)', async () => {
    const sim = await startKinesisSimulator({
      streams: [{ streamName: 'none', shardCount: 1 }],
      retainedBytesPerShard: 0,
    });
    try {
      const client = sim.createClient({ maxAttempts: 1 });
      await put(client, 'none', 'n', 5);
      const start = await iterator(client, {
        StreamName: 'none',
        ShardId: 'shardId-000000000000',
        ShardIteratorType: 'TRIM_HORIZON',
      });
      const response = await client.send(new GetRecordsCommand({ ShardIterator: start }));
      expect(response.Records).toEqual([]);
      expect(sim.stats()).toMatchObject({ accepted: 5, trimmedRecords: 0 });
    } finally {
      await sim.stop();
    }
  });

  it('refuses options out of range', async () => {
    await expect(startKinesisSimulator({ retainedBytesPerShard: 10 })).rejects.toThrow(
      /retainedBytesPerShard/,
    );
    await expect(startKinesisSimulator({ iteratorLifetimeMs: 0 })).rejects.toThrow(/iteratorLifetimeMs/);
    await expect(startKinesisSimulator({ readLimits: { callsPerSecond: 0 } })).rejects.toThrow(
      /callsPerSecond/,
    );
  });
});
