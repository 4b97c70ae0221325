import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { describe, expect, it } from 'vitest';
import { ConfigurationError, StreamError } from '../src/index.js';
import {
  leaseKeyOf,
  parseStreamArn,
  parseStreamIdentity,
  serializeStreamIdentity,
  shardOf,
  streamIdentityOf,
} from '../src/leases/leaseKeys.js';
import { ShardSyncer } from '../src/leases/ShardSyncer.js';
import { StreamLeaseScope } from '../src/leases/StreamLeaseScope.js';
import { type StreamList, StreamTracker } from '../src/streams/StreamTracker.js';
import { InMemoryLeaseStore } from './fixtures/InMemoryLeaseStore.js';
import { fakeKinesis, shard } from './fixtures/shards.js';

const ID = '123456789012:orders:1700000000';

describe('lease key codec', () => {
  it('single-stream keys are shard ids; multi-stream keys are the KCL MultiStreamLease keys', () => {
    expect(leaseKeyOf({ streamId: undefined, shardId: 'shardId-000000000001' })).toBe('shardId-000000000001');
    expect(leaseKeyOf({ streamId: ID, shardId: 'shardId-000000000001' })).toBe(`${ID}:shardId-000000000001`);
    expect(shardOf(`${ID}:shardId-000000000001`)).toEqual({ streamId: ID, shardId: 'shardId-000000000001' });
    expect(shardOf('shardId-000000000001')).toEqual({ streamId: undefined, shardId: 'shardId-000000000001' });
    // Not the multi-stream shape (no account, or an epoch of 0): read as a plain shard id, never split.
    expect(shardOf('orders:1700000000:shardId-1').streamId).toBeUndefined();
    expect(shardOf('123456789012:orders:0:shardId-1').streamId).toBeUndefined();
  });

  it('stream identities serialize as accountId:streamName:creationEpoch and come from the ARN and creation time', () => {
    const identity = { accountId: '123456789012', streamName: 'orders', creationEpoch: 1_700_000_000 };
    expect(serializeStreamIdentity(identity)).toBe(ID);
    expect(parseStreamIdentity(ID)).toEqual(identity);
    expect(parseStreamIdentity('orders')).toBeUndefined();
    expect(parseStreamIdentity('123456789012:or:ders:1')).toBeUndefined();
    const arn = 'arn:aws:kinesis:eu-west-1:123456789012:stream/orders';
    expect(parseStreamArn(arn)).toEqual({
      region: 'eu-west-1',
      accountId: '123456789012',
      streamName: 'orders',
    });
    expect(parseStreamArn('arn:aws:sqs:eu-west-1:123456789012:orders')).toBeUndefined();
    // Milliseconds are cut, as the KCL's epoch is whole seconds.
    expect(streamIdentityOf(arn, new Date(1_700_000_000_999))).toEqual(identity);
    expect(streamIdentityOf('orders', new Date())).toBeUndefined();
  });

  it('a stream scope creates KCL multi-stream items and sees only its own stream, by shard id', async () => {
    const table = new InMemoryLeaseStore();
    const other = new StreamLeaseScope(table, '123456789012:payments:1700000001');
    await other.createLeaseIfNotExists({ leaseKey: 'shardId-000000000000', checkpoint: 'TRIM_HORIZON' });
    const scope = new StreamLeaseScope(table, ID);
    const syncer = new ShardSyncer({
      kinesis: fakeKinesis(() => [shard('P', [], true), shard('A', ['P']), shard('B', ['P'])]).client,
      stream: { StreamName: 'orders' },
      store: scope,
      initialCheckpoint: 'TRIM_HORIZON',
    });
    const { created } = await syncer.sync();
    expect(created).toBe(3);
    const child = table.leases.get(`${ID}:A`);
    expect(child).toMatchObject({ streamName: ID, shardId: 'A', parentShardIds: ['P'] });
    expect((await scope.listLeases()).map((lease) => lease.leaseKey).sort()).toEqual(['A', 'B', 'P']);
    expect((await scope.getLease('P'))?.leaseKey).toBe('P');
    await scope.addChildShardIds('P', ['A', 'B']);
    expect(table.leases.get(`${ID}:P`)?.childShardIds).toEqual(['A', 'B']);
    const p = (await scope.getLease('P')) as NonNullable<Awaited<ReturnType<typeof scope.getLease>>>;
    expect(await scope.deleteLease(p)).toBe(true);
    expect(table.leases.has(`${ID}:P`)).toBe(false);
    expect(table.leases.has('123456789012:payments:1700000001:shardId-000000000000')).toBe(true);
  });
});

/** DescribeStreamSummary answers for the streams in `streams` (name -> creation epoch); counts calls. */
function describer(streams: Map<string, number>) {
  const calls: string[] = [];
  const send = async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
    const name =
      typeof command.input.StreamName === 'string'
        ? command.input.StreamName
        : (String(command.input.StreamARN).split('/')[1] ?? '');
    calls.push(name);
    const epoch = streams.get(name);
    if (epoch === undefined)
      throw Object.assign(new Error(`Stream ${name} not found`), { name: 'ResourceNotFoundException' });
    return {
      StreamDescriptionSummary: {
        StreamName: name,
        StreamARN: `arn:aws:kinesis:eu-west-1:123456789012:stream/${name}`,
        StreamCreationTimestamp: new Date(epoch * 1000 + 250),
      },
    };
  };
  return { client: { send } as unknown as KinesisClient, calls };
}

describe('StreamTracker', () => {
  const epochs = new Map([
    ['a', 1_700_000_001],
    ['b', 1_700_000_002],
    ['c', 1_700_000_003],
  ]);

  it('resolves the list once per stream, reports added and removed streams, serves removed ones until forgotten', async () => {
    const kinesis = describer(epochs);
    let list: StreamList = [
      'a',
      { streamARN: 'arn:aws:kinesis:eu-west-1:123456789012:stream/b', initialPosition: 'TRIM_HORIZON' },
    ];
    let now = 0;
    const tracker = new StreamTracker({
      kinesis: kinesis.client,
      source: () => list,
      initialPosition: 'LATEST',
      gracePeriodMs: 1_000,
      now: () => now,
    });
    const first = await tracker.refresh();
    expect(first.added.map((s) => s.id)).toEqual(['123456789012:a:1700000001', '123456789012:b:1700000002']);
    expect(first.added.map((s) => s.initialPosition)).toEqual(['LATEST', 'TRIM_HORIZON']);
    expect(first.added[0]?.ref).toEqual({ StreamARN: 'arn:aws:kinesis:eu-west-1:123456789012:stream/a' });
    expect((await tracker.refresh()).added).toEqual([]);
    expect(kinesis.calls).toEqual(['a', 'b']); // described once each

    list = ['a', 'c'];
    const second = await tracker.refresh();
    expect(second.added.map((s) => s.streamName)).toEqual(['c']);
    expect(second.removed.map((s) => s.streamName)).toEqual(['b']);
    expect(tracker.active().map((s) => s.streamName)).toEqual(['a', 'c']);
    const idB = '123456789012:b:1700000002';
    expect(tracker.byId(idB)?.streamName).toBe('b'); // still served during the grace period

    const inTable = new Set(['123456789012:a:1700000001', idB]);
    now = 999;
    expect(tracker.formerStreamsDue(inTable)).toEqual([]);
    now = 1_000;
    expect(tracker.formerStreamsDue(inTable)).toEqual([idB]);
    // Its leases gone from the table: forgotten.
    expect(tracker.formerStreamsDue(new Set(['123456789012:a:1700000001']))).toEqual([]);
    expect(tracker.byId(idB)).toBeUndefined();
  });

  it('streams found only in the lease table wait the whole grace period; a stream listed again is kept', async () => {
    let now = 5_000;
    let list: StreamList = ['a'];
    const tracker = new StreamTracker({
      kinesis: describer(epochs).client,
      source: async () => list,
      initialPosition: 'LATEST',
      gracePeriodMs: 1_000,
      now: () => now,
    });
    await tracker.refresh();
    const stale = '123456789012:gone:1600000000';
    const idA = '123456789012:a:1700000001';
    expect(tracker.formerStreamsDue(new Set([idA, stale]))).toEqual([]);
    list = [];
    await tracker.refresh();
    now = 5_900;
    list = ['a'];
    await tracker.refresh(); // listed again before its grace ran out
    now = 6_000;
    expect(tracker.formerStreamsDue(new Set([idA, stale]))).toEqual([stale]);
  });

  it('a stream that cannot be described is a failure of that round, retried on the next; a bad list throws', async () => {
    const known = new Map(epochs);
    const kinesis = describer(known);
    let list: unknown = ['a', 'late'];
    const tracker = new StreamTracker({
      kinesis: kinesis.client,
      source: () => list as StreamList,
      initialPosition: 'LATEST',
      gracePeriodMs: 1_000,
      now: () => 0,
    });
    const first = await tracker.refresh();
    expect(first.added.map((s) => s.streamName)).toEqual(['a']);
    expect(first.failures).toHaveLength(1);
    expect(first.failures[0]).toBeInstanceOf(StreamError);
    expect(first.failures[0]?.awsErrorName).toBe('ResourceNotFoundException');
    known.set('late', 1_700_000_009);
    expect((await tracker.refresh()).added.map((s) => s.streamName)).toEqual(['late']);
    list = [{ streamName: 'a', streamARN: 'arn:aws:kinesis:eu-west-1:123456789012:stream/a' }];
    await expect(tracker.refresh()).rejects.toBeInstanceOf(ConfigurationError);
    list = 'a';
    await expect(tracker.refresh()).rejects.toBeInstanceOf(ConfigurationError);
    list = [{ streamName: 'a', initialPosition: 'EARLIEST' }];
    await expect(tracker.refresh()).rejects.toThrow(/initialPosition/);
    expect(tracker.active().map((s) => s.streamName)).toEqual(['a', 'late']); // a bad list changes nothing
  });
});
