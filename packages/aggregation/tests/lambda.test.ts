import { type _Record, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import {
  connectLocalStack,
  createStream,
  listAllShards,
  readAllRecords,
  type StreamRecord,
  uniqueName,
} from '@shardline/testkit';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  type AggregatedRecord,
  ChecksumMismatchError,
  deaggregate,
  RecordAggregator,
  type UserRecord,
} from '../src/index.js';
import {
  deaggregateEvent,
  type KinesisStreamEvent,
  type KinesisStreamRecord,
  processKinesisEvent,
} from '../src/lambda.js';

const stack = connectLocalStack(inject('localStack'));
afterAll(() => stack.destroy());

function toLambdaRecord(record: StreamRecord, streamArn: string): KinesisStreamRecord {
  return {
    eventID: `${record.shardId}:${record.SequenceNumber ?? ''}`,
    eventSourceARN: streamArn,
    eventSource: 'aws:kinesis',
    eventName: 'aws:kinesis:record',
    eventVersion: '1.0',
    awsRegion: 'us-east-1',
    invokeIdentityArn: 'arn:aws:iam::000000000000:role/test',
    kinesis: {
      kinesisSchemaVersion: '1.0',
      data: Buffer.from(record.Data ?? new Uint8Array()).toString('base64'),
      partitionKey: record.PartitionKey ?? '',
      sequenceNumber: record.SequenceNumber ?? '',
      approximateArrivalTimestamp: (record.ApproximateArrivalTimestamp?.getTime() ?? 0) / 1000,
    },
  };
}

const text = (r: UserRecord) => Buffer.from(r.data).toString('utf8');

describe('Lambda helper on records read back from the local stack', () => {
  const streamName = uniqueName('agg-lambda');
  const sent: string[][] = [[], []];
  let event: KinesisStreamEvent;
  let shardIds: string[] = [];
  let read: StreamRecord[] = [];

  beforeAll(async () => {
    await createStream(stack.kinesis, { streamName, shardCount: 2 });
    const shards = (await listAllShards(stack.kinesis, streamName)).sort((a, b) =>
      BigInt(a.HashKeyRange?.StartingHashKey ?? 0) < BigInt(b.HashKeyRange?.StartingHashKey ?? 0) ? -1 : 1,
    );
    shardIds = shards.map((s) => s.ShardId ?? '');
    // Shard-aware aggregation: one aggregator per shard, explicit hash keys inside that shard's range.
    const entries: AggregatedRecord[] = [];
    shards.forEach((shard, s) => {
      const start = BigInt(shard.HashKeyRange?.StartingHashKey ?? 0);
      const aggregator = new RecordAggregator({ maxRecords: 4 });
      for (let i = 0; i < 9; i++) {
        const data = `shard${s}-record${i}`;
        sent[s]?.push(data);
        const done = aggregator.add({
          partitionKey: `pk-${i}`,
          explicitHashKey: (start + BigInt(i)).toString(),
          data,
        });
        if (done) entries.push(done);
      }
      const last = aggregator.flush();
      if (last) entries.push(last); // the 9th record alone: emitted raw
    });
    expect(entries.map((e) => e.count)).toEqual([4, 4, 1, 4, 4, 1]);
    const response = await stack.kinesis.send(
      new PutRecordsCommand({
        StreamName: streamName,
        Records: entries.map((e) => ({
          Data: e.data,
          PartitionKey: e.partitionKey,
          ExplicitHashKey: e.explicitHashKey,
        })),
      }),
    );
    expect(response.FailedRecordCount ?? 0).toBe(0);
    read = await readAllRecords(stack.kinesis, streamName);
    expect(read).toHaveLength(6);
    event = {
      Records: read.map((r) =>
        toLambdaRecord(r, `arn:aws:kinesis:us-east-1:000000000000:stream/${streamName}`),
      ),
    };
  });

  it('de-aggregates the event into every user record, in order, with sub-sequence numbers', () => {
    const users = deaggregateEvent(event);
    const byShard = shardIds.map((id) =>
      users.filter((u) =>
        event.Records.some(
          (r) => r.eventID?.startsWith(`${id}:`) && r.kinesis.sequenceNumber === u.sequenceNumber,
        ),
      ),
    );
    expect(byShard.map((records) => records.map(text))).toEqual(sent);
    expect(byShard[0]?.map((u) => [u.subSequenceNumber, u.aggregated])).toEqual([
      [0, true],
      [1, true],
      [2, true],
      [3, true],
      [0, true],
      [1, true],
      [2, true],
      [3, true],
      [0, false],
    ]);
    // The SDK and Lambda shapes give the same user records.
    const viaSdk = read.flatMap((r: _Record) => deaggregate(r));
    expect(viaSdk.map(text)).toEqual(users.map(text));
  });

  it('stops a shard at its first failure and reports the aggregate holding it; other shards carry on', async () => {
    const seen: string[] = [];
    const failures: unknown[] = [];
    const response = await processKinesisEvent(
      event,
      async (record) => {
        seen.push(text(record));
        if (text(record) === 'shard0-record5') throw new Error('handler failed');
      },
      { onFailure: (error, record) => failures.push([(error as Error).message, record && text(record)]) },
    );
    const failedAggregate = event.Records.find(
      (r) =>
        r.eventID?.startsWith(`${shardIds[0]}:`) &&
        deaggregateEvent({ Records: [r] }).some((u) => text(u) === 'shard0-record5'),
    );
    expect(response).toEqual({
      batchItemFailures: [{ itemIdentifier: failedAggregate?.kinesis.sequenceNumber }],
    });
    expect(seen.filter((s) => s.startsWith('shard0'))).toEqual(sent[0]?.slice(0, 6));
    expect(seen.filter((s) => s.startsWith('shard1'))).toEqual(sent[1]);
    expect(failures).toEqual([['handler failed', 'shard0-record5']]);

    // A synchronous handler that never fails: an empty response.
    const all: string[] = [];
    expect(await processKinesisEvent(event, (r) => void all.push(text(r)))).toEqual({
      batchItemFailures: [],
    });
    expect(all).toHaveLength(18);
  });

  it('reports a Kinesis record that fails de-aggregation in strict mode', async () => {
    const [first, ...rest] = event.Records;
    if (first === undefined) throw new Error('no records');
    const bytes = Buffer.from(first.kinesis.data, 'base64');
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0xff;
    const corrupted = { ...first, kinesis: { ...first.kinesis, data: bytes.toString('base64') } };
    const errors: unknown[] = [];
    const response = await processKinesisEvent({ Records: [corrupted, ...rest] }, () => {}, {
      strict: true,
      onFailure: (error, record) => errors.push([error, record]),
    });
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: first.kinesis.sequenceNumber }]);
    expect(errors).toHaveLength(1);
    expect((errors[0] as unknown[])[0]).toBeInstanceOf(ChecksumMismatchError);
    // Lenient (the default): passed through, flagged.
    const users = deaggregateEvent({ Records: [corrupted] });
    expect(users).toMatchObject([{ aggregated: false, aggregationError: 'checksum' }]);
  });
});

describe('processKinesisEvent without eventIDs', () => {
  const payload = (data: string, sequenceNumber: string) => ({
    kinesis: {
      data: Buffer.from(data).toString('base64'),
      partitionKey: 'pk',
      sequenceNumber,
      approximateArrivalTimestamp: 1,
    },
  });

  it('treats the event as one shard and stops at the first rejected promise', async () => {
    const event = { Records: [payload('one', '1'), payload('two', '2'), payload('three', '3')] };
    const seen: string[] = [];
    const response = await processKinesisEvent(event, (record) => {
      seen.push(text(record));
      return text(record) === 'two' ? Promise.reject(new Error('no')) : Promise.resolve();
    });
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: '2' }] });
    expect(seen).toEqual(['one', 'two']);
    expect(deaggregateEvent(event).map(text)).toEqual(['one', 'two', 'three']);
  });
});
