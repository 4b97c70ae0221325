import { createHash } from 'node:crypto';
import {
  DescribeStreamSummaryCommand,
  InvalidArgumentException,
  type KinesisClient,
  ListShardsCommand,
  ProvisionedThroughputExceededException,
  PutRecordCommand,
  PutRecordsCommand,
  type PutRecordsRequestEntry,
  ResourceNotFoundException,
  ValidationException,
} from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evenHashRanges, type KinesisSimulator, MAX_HASH_KEY, startKinesisSimulator } from '../src/index.js';

const MiB = 1024 * 1024;

function entries(count: number, size = 10, prefix = 'k'): PutRecordsRequestEntry[] {
  return Array.from({ length: count }, (_, i) => ({
    PartitionKey: `${prefix}-${i}`,
    Data: Buffer.alloc(size, i % 256),
  }));
}

/** The shard index CreateStream's even split gives a partition key, computed independently of the simulator. */
function expectedShard(partitionKey: string, shardCount: number): number {
  const hash = BigInt(`0x${createHash('md5').update(partitionKey, 'utf8').digest('hex')}`);
  return evenHashRanges(shardCount).findIndex((range) => hash >= range.start && hash <= range.end);
}

async function errorOf(
  promise: Promise<unknown>,
): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail');
}

describe('Kinesis simulator through the real KinesisClient', () => {
  let sim: KinesisSimulator;
  let client: KinesisClient;
  let clock = 0;

  beforeAll(async () => {
    sim = await startKinesisSimulator({
      streams: [
        { streamName: 'four', shardCount: 4 },
        { streamName: 'one', shardCount: 1 },
        { streamName: 'five', shardCount: 5 },
      ],
      now: () => clock,
    });
    client = sim.createClient({ maxAttempts: 1 });
  });
  afterAll(() => sim.stop());

  it('listens on loopback and answers DescribeStreamSummary, by name and by ARN', async () => {
    expect(new URL(sim.endpoint).hostname).toBe('127.0.0.1');
    const byName = await client.send(new DescribeStreamSummaryCommand({ StreamName: 'four' }));
    const summary = byName.StreamDescriptionSummary;
    expect(summary?.StreamStatus).toBe('ACTIVE');
    expect(summary?.OpenShardCount).toBe(4);
    expect(summary?.StreamCreationTimestamp).toBeInstanceOf(Date);
    const byArn = await client.send(new DescribeStreamSummaryCommand({ StreamARN: summary?.StreamARN }));
    expect(byArn.StreamDescriptionSummary?.StreamName).toBe('four');
    const missing = await errorOf(client.send(new DescribeStreamSummaryCommand({ StreamName: 'nope' })));
    expect(missing).toBeInstanceOf(ResourceNotFoundException);
  });

  it('pages ListShards with NextToken and gives the even hash split of CreateStream', async () => {
    const pages: string[][] = [];
    let response = await client.send(new ListShardsCommand({ StreamName: 'five', MaxResults: 2 }));
    pages.push((response.Shards ?? []).map((s) => s.ShardId ?? ''));
    while (response.NextToken) {
      response = await client.send(new ListShardsCommand({ NextToken: response.NextToken, MaxResults: 2 }));
      pages.push((response.Shards ?? []).map((s) => s.ShardId ?? ''));
    }
    expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
    expect(pages.flat()).toEqual([0, 1, 2, 3, 4].map((i) => `shardId-00000000000${i}`));

    const summary = await client.send(new DescribeStreamSummaryCommand({ StreamName: 'five' }));
    const byArn = await client.send(
      new ListShardsCommand({ StreamARN: summary.StreamDescriptionSummary?.StreamARN, MaxResults: 4 }),
    );
    expect(byArn.Shards).toHaveLength(4);
    expect(byArn.NextToken).toBeDefined();

    const all = await client.send(new ListShardsCommand({ StreamName: 'five' }));
    const ranges = (all.Shards ?? []).map((s) => [
      BigInt(s.HashKeyRange?.StartingHashKey ?? -1),
      BigInt(s.HashKeyRange?.EndingHashKey ?? -1),
    ]);
    expect(ranges[0]?.[0]).toBe(0n);
    expect(ranges[4]?.[1]).toBe(MAX_HASH_KEY);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]?.[0]).toBe((ranges[i - 1]?.[1] ?? 0n) + 1n);
    // Real Kinesis: 3 shards end at floor(2^128 / 3) - 1.
    expect(evenHashRanges(3)[0]?.end).toBe(113427455640312821154458202477256070484n);

    const after = await client.send(
      new ListShardsCommand({
        StreamName: 'five',
        ShardFilter: { Type: 'AFTER_SHARD_ID', ShardId: 'shardId-000000000002' },
      }),
    );
    expect(after.Shards?.map((s) => s.ShardId)).toEqual(['shardId-000000000003', 'shardId-000000000004']);
    const both = await errorOf(
      client.send(new ListShardsCommand({ StreamName: 'five', NextToken: response.NextToken ?? 'x' })),
    );
    expect(both).toBeInstanceOf(InvalidArgumentException);
  });

  it('routes by MD5 of the partition key, or by ExplicitHashKey, and answers in request order', async () => {
    sim.clearLog();
    clock += 10_000;
    const records = entries(200, 20, 'route');
    const ranges = evenHashRanges(4);
    // Explicit hash keys at both ends of every shard's range.
    ranges.forEach((range, shard) => {
      for (const key of [range.start, range.end]) {
        records.push({
          PartitionKey: `ehk-${shard}`,
          ExplicitHashKey: String(key),
          Data: Buffer.from([shard]),
        });
      }
    });
    const response = await client.send(new PutRecordsCommand({ StreamName: 'four', Records: records }));
    expect(response.FailedRecordCount).toBe(0);
    expect(response.Records).toHaveLength(records.length);
    response.Records?.forEach((result, i) => {
      const record = records[i];
      const shard = record?.ExplicitHashKey
        ? Number(record.PartitionKey?.slice(4))
        : expectedShard(record?.PartitionKey ?? '', 4);
      expect(result.ShardId).toBe(`shardId-00000000000${shard}`);
    });
    // The log has every entry once, with the shard, sequence number and data the response named.
    const log = sim.accepted();
    expect(log).toHaveLength(records.length);
    log.forEach((entry, i) => {
      expect(entry.sequenceNumber).toBe(response.Records?.[i]?.SequenceNumber);
      expect(entry.shardId).toBe(response.Records?.[i]?.ShardId);
      expect(entry.data?.equals(Buffer.from(records[i]?.Data ?? []))).toBe(true);
    });
    // Sequence numbers are 56-digit decimals increasing within a shard.
    const byShard = new Map<string, bigint>();
    for (const entry of log) {
      expect(entry.sequenceNumber).toMatch(/^\d{56}$/);
      const previous = byShard.get(entry.shardId) ?? -1n;
      expect(BigInt(entry.sequenceNumber) > previous).toBe(true);
      byShard.set(entry.shardId, BigInt(entry.sequenceNumber));
    }
  });

  it('throttles beyond 1,000 records/s on one shard over a sliding second, and not below', async () => {
    clock += 10_000;
    const start = clock;
    const put = async () =>
      client.send(new PutRecordsCommand({ StreamName: 'one', Records: entries(500, 1) }));
    expect((await put()).FailedRecordCount).toBe(0);
    clock = start + 500;
    expect((await put()).FailedRecordCount).toBe(0);
    clock = start + 999;
    const over = await put();
    expect(over.FailedRecordCount).toBe(500);
    expect(over.Records?.[0]?.ErrorCode).toBe('ProvisionedThroughputExceededException');
    expect(over.Records?.[0]?.ErrorMessage).toBe(
      'Rate exceeded for shard shardId-000000000000 in stream one under account 000000000000.',
    );
    // The first 500 leave the window at start + 1000: exactly 500 fit again.
    clock = start + 1_000;
    const partly = await client.send(new PutRecordsCommand({ StreamName: 'one', Records: entries(500, 1) }));
    expect(partly.FailedRecordCount).toBe(0);
    clock = start + 1_001;
    expect((await put()).FailedRecordCount).toBe(500);

    // 900 records/s for five seconds: never throttled.
    clock += 10_000;
    for (let step = 0; step < 50; step++) {
      clock += 100;
      const steady = await client.send(new PutRecordsCommand({ StreamName: 'one', Records: entries(90, 1) }));
      expect(steady.FailedRecordCount).toBe(0);
    }
  });

  it('throttles beyond 1 MiB/s per shard (partition keys count) entry by entry', async () => {
    clock += 10_000;
    const big = Buffer.alloc(100 * 1024);
    const records: PutRecordsRequestEntry[] = Array.from({ length: 11 }, () => ({
      PartitionKey: 'p',
      Data: big,
    }));
    records.push({ PartitionKey: 'p', Data: Buffer.alloc(1_000) });
    const response = await client.send(new PutRecordsCommand({ StreamName: 'one', Records: records }));
    // Ten entries of 100 KiB + 1 byte fit in 1 MiB; the eleventh does not; a small one after it still does.
    expect(response.Records?.map((r) => r.ErrorCode ?? 'ok')).toEqual([
      ...Array(10).fill('ok'),
      'ProvisionedThroughputExceededException',
      'ok',
    ]);
    expect(response.FailedRecordCount).toBe(1);
  });

  it('answers a throttled PutRecord with ProvisionedThroughputExceededException', async () => {
    clock += 10_000;
    const data = Buffer.alloc(600 * 1024);
    const first = await client.send(
      new PutRecordCommand({ StreamName: 'one', PartitionKey: 'a', Data: data }),
    );
    expect(first.ShardId).toBe('shardId-000000000000');
    const second = await errorOf(
      client.send(new PutRecordCommand({ StreamName: 'one', PartitionKey: 'a', Data: data })),
    );
    expect(second).toBeInstanceOf(ProvisionedThroughputExceededException);
  });

  it('rejects whole requests over the service limits with the service error types', async () => {
    clock += 10_000;
    const before = sim.stats().accepted;
    const cases: Array<[PutRecordsRequestEntry[], new (...args: never[]) => Error, RegExp]> = [
      [entries(501), ValidationException, /length less than or equal to 500/],
      [[], ValidationException, /length greater than or equal to 1/],
      [
        [...entries(3), { PartitionKey: '', Data: Buffer.from('x') }],
        ValidationException,
        /records\.4\.member\.partitionKey/,
      ],
      [
        [{ PartitionKey: 'x'.repeat(257), Data: Buffer.from('x') }],
        ValidationException,
        /less than or equal to 256/,
      ],
      [
        [{ PartitionKey: 'a', ExplicitHashKey: '12a', Data: Buffer.from('x') }],
        ValidationException,
        /explicitHashKey/,
      ],
      [
        [{ PartitionKey: 'a', ExplicitHashKey: String(MAX_HASH_KEY + 1n), Data: Buffer.from('x') }],
        InvalidArgumentException,
        /ExplicitHashKey/,
      ],
      [[{ PartitionKey: 'a', Data: Buffer.alloc(MiB + 1) }], ValidationException, /records\.1\.member\.data/],
      [[{ PartitionKey: 'ab', Data: Buffer.alloc(MiB - 1) }], InvalidArgumentException, /Record size/],
      [entries(6, MiB - 100), InvalidArgumentException, /Records size exceeds 5 MB limit/],
    ];
    for (const [records, type, message] of cases) {
      const error = await errorOf(
        client.send(new PutRecordsCommand({ StreamName: 'four', Records: records })),
      );
      expect(error).toBeInstanceOf(type);
      expect(error.message).toMatch(message);
      expect(error.$metadata?.httpStatusCode).toBe(400);
    }
    // A partition key of 256 characters and a record of exactly 1 MiB are fine.
    const edge = await client.send(
      new PutRecordsCommand({
        StreamName: 'four',
        Records: [{ PartitionKey: 'é'.repeat(256), Data: Buffer.alloc(MiB - 512) }],
      }),
    );
    expect(edge.FailedRecordCount).toBe(0);
    // Nothing of a rejected request was written.
    expect(sim.stats().accepted).toBe(before + 1);
  });

  it('splits and merges shards: new writes go to the children, ListShards shows the lineage', async () => {
    clock += 10_000;
    sim.createStream('resharded', 2);
    const [left, right] = sim.splitShard('resharded', 'shardId-000000000000');
    expect([left, right]).toEqual(['shardId-000000000002', 'shardId-000000000003']);
    const open = await client.send(
      new ListShardsCommand({ StreamName: 'resharded', ShardFilter: { Type: 'AT_LATEST' } }),
    );
    expect(open.Shards?.map((s) => s.ShardId)).toEqual(['shardId-000000000001', left, right]);
    const all = await client.send(new ListShardsCommand({ StreamName: 'resharded' }));
    const parent = all.Shards?.find((s) => s.ShardId === 'shardId-000000000000');
    expect(parent?.SequenceNumberRange?.EndingSequenceNumber).toMatch(/^\d{56}$/);
    expect(all.Shards?.find((s) => s.ShardId === right)?.ParentShardId).toBe('shardId-000000000000');

    const quarter = MAX_HASH_KEY / 4n;
    const put = await client.send(
      new PutRecordsCommand({
        StreamName: 'resharded',
        Records: [
          { PartitionKey: 'a', ExplicitHashKey: '0', Data: Buffer.from('l') },
          { PartitionKey: 'b', ExplicitHashKey: String(quarter + 1n), Data: Buffer.from('r') },
        ],
      }),
    );
    expect(put.Records?.map((r) => r.ShardId)).toEqual([left, right]);

    const merged = sim.mergeShards('resharded', left, right);
    const shards = sim.shards('resharded');
    expect(shards.filter((s) => s.open).map((s) => s.shardId)).toEqual(['shardId-000000000001', merged]);
    expect(shards.find((s) => s.shardId === merged)?.adjacentParentShardId).toBe(right);
    expect(() => sim.splitShard('resharded', left)).toThrow(/no open shard/);
  });

  it('answers unknown operations and bad JSON like the service', async () => {
    const call = (target: string, body: string) =>
      fetch(sim.endpoint, {
        method: 'POST',
        headers: { 'x-amz-target': target, 'content-type': 'application/x-amz-json-1.1' },
        body,
      });
    const unknown = await call('Kinesis_20131202.DeleteStream', '{}');
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ __type: 'UnknownOperationException' });
    const bad = await call('Kinesis_20131202.PutRecords', '{nope');
    expect(await bad.json()).toMatchObject({ __type: 'SerializationException' });
  });
});

describe('simulator options', () => {
  it('keeps only counts when asked, bounds the log, and can drop shard limits', async () => {
    const counting = await startKinesisSimulator({
      streams: [{ streamName: 's', shardCount: 1 }],
      shardLimits: false,
      log: { mode: 'counts' },
    });
    const bounded = await startKinesisSimulator({
      streams: [{ streamName: 's', shardCount: 1 }],
      log: { maxEntries: 10, keepData: false },
    });
    try {
      const a = counting.createClient();
      for (let i = 0; i < 6; i++) {
        const response = await a.send(new PutRecordsCommand({ StreamName: 's', Records: entries(500, 1) }));
        expect(response.FailedRecordCount).toBe(0);
      }
      expect(counting.accepted()).toHaveLength(0);
      expect(counting.stats()).toMatchObject({ accepted: 3_000, throttled: 0, requests: { PutRecords: 6 } });
      expect(counting.shards('s')[0]?.accepted).toBe(3_000);

      const b = bounded.createClient();
      await b.send(new PutRecordsCommand({ StreamName: 's', Records: entries(25, 1) }));
      expect(bounded.accepted()).toHaveLength(10);
      expect(bounded.accepted()[0]?.data).toBeUndefined();
      expect(bounded.stats().droppedFromLog).toBe(15);
    } finally {
      await Promise.all([counting.stop(), bounded.stop()]);
    }
    // stop() is safe to call twice.
    await counting.stop();
  });
});
