// kplRecordHandler with the real Powertools for AWS Lambda batch package, on events holding the real KPL
// records of the fixtures, plain records, and failing user records.
import {
  BatchProcessor,
  BatchProcessorSync,
  EventType,
  FullBatchFailureError,
  processPartialResponse,
  processPartialResponseSync,
} from '@aws-lambda-powertools/batch';
import type {
  KinesisStreamEvent as AwsKinesisStreamEvent,
  KinesisStreamRecord as AwsKinesisStreamRecord,
  Context,
} from 'aws-lambda';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  ChecksumMismatchError,
  InvalidRecordError,
  RecordAggregator,
  type UserRecord,
  UserRecordHandlerError,
} from '../src/index.js';
import { type KinesisRecordHandler, kplRecordHandler } from '../src/powertools.js';
import { loadFixtures } from './helpers.js';

const fixtures = loadFixtures();
const text = (record: UserRecord) => Buffer.from(record.data).toString('utf8');

function eventRecord(
  shardId: string,
  kinesis: {
    data: string;
    partitionKey: string;
    sequenceNumber: string;
    approximateArrivalTimestamp: number;
  },
): AwsKinesisStreamRecord {
  return {
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${shardId}:${kinesis.sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::000000000000:role/test',
    awsRegion: 'us-east-1',
    eventSourceARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/kpl',
    kinesis: { kinesisSchemaVersion: '1.0', ...kinesis },
  };
}

function plainRecord(shardId: string, sequenceNumber: string, data: string): AwsKinesisStreamRecord {
  return eventRecord(shardId, {
    data: Buffer.from(data).toString('base64'),
    partitionKey: `pk-${sequenceNumber}`,
    sequenceNumber,
    approximateArrivalTimestamp: 1_700_000_000,
  });
}

/** The KPL fixtures (three aggregates and one record the KPL sent raw) and two plain records. */
function kplEvent(): AwsKinesisStreamEvent {
  return {
    Records: [
      ...fixtures.map((f) => eventRecord(f.kinesisRecord.shardId, f.kinesisRecord)),
      plainRecord('shardId-000000000001', '900', 'plain one'),
      plainRecord('shardId-000000000001', '901', 'plain two'),
    ],
  };
}

const expectedTexts = [
  ...fixtures.flatMap((f) => f.expectedUserRecords.map((u) => u.dataUtf8)),
  'plain one',
  'plain two',
];

describe('kplRecordHandler with @aws-lambda-powertools/batch', () => {
  it('de-aggregates real KPL records and plain ones, one handler call per user record', async () => {
    const seen: UserRecord[] = [];
    const sources: string[] = [];
    const processor = new BatchProcessor(EventType.KinesisDataStreams);
    const response = await processPartialResponse(
      kplEvent(),
      kplRecordHandler(async (record, source) => {
        seen.push(record);
        sources.push(source.kinesis.sequenceNumber);
      }),
      processor,
      { processInParallel: false },
    );
    expect(response).toEqual({ batchItemFailures: [] });
    expect(seen.map(text)).toEqual(expectedTexts);
    // Each user record knows where it came from, as deaggregate reports it.
    const first = fixtures[0];
    if (!first) throw new Error('no fixture');
    expect(
      seen.slice(0, first.expectedUserRecords.length).map((r) => [r.partitionKey, r.explicitHashKey]),
    ).toEqual(first.expectedUserRecords.map((u) => [u.partitionKey, u.explicitHashKey ?? undefined]));
    expect(seen.every((r, i) => r.sequenceNumber === sources[i])).toBe(true);
    expect(seen.filter((r) => r.aggregated).length).toBe(16);
  });

  it('fails the Kinesis record holding a failed user record; Powertools reports it as any failed record', async () => {
    const [withKeys, withoutKeys] = fixtures;
    if (!withKeys || !withoutKeys) throw new Error('missing fixtures');
    const poison = withoutKeys.expectedUserRecords[2]?.dataUtf8; // the third of eight in that aggregate
    const seen: string[] = [];
    const cause = Object.assign(new Error('cannot store RECORD 20'), { retriable: false });
    const handler = kplRecordHandler(async (record) => {
      const body = text(record);
      if (body === poison) throw cause;
      if (body === 'plain two') throw new Error('plain record failed');
      seen.push(body);
    });
    const processor = new BatchProcessor(EventType.KinesisDataStreams);
    const response = await processPartialResponse(kplEvent(), handler, processor, {
      processInParallel: false,
    });
    // The aggregate's sequence number, as Powertools reports a failed Kinesis record: the same shape as for
    // the failed plain record beside it.
    expect(response).toEqual({
      batchItemFailures: [
        { itemIdentifier: withoutKeys.kinesisRecord.sequenceNumber },
        { itemIdentifier: '901' },
      ],
    });
    // The records before the failure in that aggregate were handled (and will be again on retry); the rest of
    // it was skipped; every other record was handled in full.
    expect(seen).toEqual(
      expectedTexts.filter(
        (t) => t !== 'plain two' && !withoutKeys.expectedUserRecords.slice(2).some((u) => u.dataUtf8 === t),
      ),
    );
    const [error, plainError] = processor.errors;
    expect(error).toBeInstanceOf(UserRecordHandlerError);
    expect(error).toMatchObject({ code: 'USER_RECORD_FAILED', retriable: false, cause });
    expect((error as UserRecordHandlerError).record.subSequenceNumber).toBe(2);
    expect(error?.message).toBe(
      `user record ${withoutKeys.kinesisRecord.sequenceNumber}/2 failed: cannot store RECORD 20`,
    );
    // A handler error without its own `retriable` leaves Lambda's retry to be tried.
    expect(plainError).toMatchObject({ code: 'USER_RECORD_FAILED', retriable: true });
  });

  it('runs in parallel across Kinesis records (Powertools default), in order within an aggregate', async () => {
    const seen: string[] = [];
    const processor = new BatchProcessor(EventType.KinesisDataStreams);
    const response = await processPartialResponse(
      kplEvent(),
      kplRecordHandler(async (record) => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        seen.push(text(record));
      }),
      processor,
    );
    expect(response).toEqual({ batchItemFailures: [] });
    expect([...seen].sort()).toEqual([...expectedTexts].sort());
    for (const fixture of fixtures) {
      const own = fixture.expectedUserRecords.map((u) => u.dataUtf8);
      expect(seen.filter((t) => own.includes(t))).toEqual(own);
    }
  });

  it('leaves the full-batch failure to Powertools: it throws, or lists every record when told not to', async () => {
    const failing = kplRecordHandler(() => {
      throw new Error('down');
    });
    const processor = new BatchProcessor(EventType.KinesisDataStreams);
    await expect(processPartialResponse(kplEvent(), failing, processor)).rejects.toBeInstanceOf(
      FullBatchFailureError,
    );
    const response = await processPartialResponse(kplEvent(), failing, processor, {
      throwOnFullBatchFailure: false,
    });
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(
      kplEvent().Records.map((r) => r.kinesis.sequenceNumber),
    );
  });

  it('passes the Lambda context through, and types line up with Powertools and aws-lambda', async () => {
    const context = { functionName: 'kpl', awsRequestId: 'req-1' } as Context;
    const contexts: (Context | undefined)[] = [];
    const handler = kplRecordHandler<Context>((_record, _source, ctx) => {
      contexts.push(ctx);
    });
    expectTypeOf(handler).toEqualTypeOf<KinesisRecordHandler<Context>>();
    expectTypeOf<AwsKinesisStreamRecord>().toExtend<Parameters<typeof handler>[0]>();
    const processor = new BatchProcessor(EventType.KinesisDataStreams);
    await processPartialResponse(kplEvent(), handler, processor, { context });
    expect(contexts.length).toBe(expectedTexts.length);
    expect(contexts.every((c) => c === context)).toBe(true);
  });

  it('stays synchronous for a synchronous handler, so BatchProcessorSync works too', () => {
    const seen: string[] = [];
    const handler = kplRecordHandler((record) => {
      if (text(record) === 'plain one') throw new Error('sync failure');
      seen.push(text(record));
    });
    const [one] = kplEvent().Records;
    if (!one) throw new Error('no record');
    expect(handler(one)).toBeUndefined();
    expect(seen.length).toBe(fixtures[0]?.expectedUserRecords.length);
    seen.length = 0;
    const processor = new BatchProcessorSync(EventType.KinesisDataStreams);
    const response = processPartialResponseSync(kplEvent(), handler, processor);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: '900' }] });
    expect(seen).toEqual(expectedTexts.filter((t) => t !== 'plain one'));
  });

  it('handles a handler that turns asynchronous midway, and one that rejects after the first record', async () => {
    const aggregator = new RecordAggregator();
    for (let i = 0; i < 4; i++) aggregator.add({ partitionKey: `k${i}`, data: `d${i}` });
    const aggregate = aggregator.flush();
    if (!aggregate) throw new Error('nothing aggregated');
    const record = eventRecord('shardId-000000000000', {
      data: Buffer.from(aggregate.data).toString('base64'),
      partitionKey: aggregate.partitionKey,
      sequenceNumber: '77',
      approximateArrivalTimestamp: 1,
    });
    const seen: string[] = [];
    await kplRecordHandler((user) => {
      seen.push(text(user));
      return user.subSequenceNumber === 1 ? Promise.resolve() : undefined;
    })(record);
    expect(seen).toEqual(['d0', 'd1', 'd2', 'd3']);
    const failing = kplRecordHandler(async (user) => {
      if (user.subSequenceNumber === 2) throw new Error('third');
    });
    const error = await Promise.resolve(failing(record)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserRecordHandlerError);
    expect((error as UserRecordHandlerError).record.subSequenceNumber).toBe(2);
  });

  it('passes a corrupt aggregate to the handler flagged, or fails it in strict mode; no data fails it', async () => {
    const aggregator = new RecordAggregator();
    aggregator.add({ partitionKey: 'a', data: 'one' });
    aggregator.add({ partitionKey: 'b', data: 'two' });
    const data = Buffer.from(aggregator.flush()?.data ?? new Uint8Array());
    data[data.length - 1] = (data[data.length - 1] as number) ^ 1;
    const corrupt = eventRecord('shardId-000000000000', {
      data: data.toString('base64'),
      partitionKey: 'a',
      sequenceNumber: '5',
      approximateArrivalTimestamp: 1,
    });
    const seen: UserRecord[] = [];
    const lenient = kplRecordHandler((record) => {
      seen.push(record);
    });
    const event = { Records: [corrupt, plainRecord('shardId-000000000000', '6', 'fine')] };
    expect(
      await processPartialResponse(event, lenient, new BatchProcessor(EventType.KinesisDataStreams)),
    ).toEqual({ batchItemFailures: [] });
    expect(seen[0]).toMatchObject({ aggregated: false, aggregationError: 'checksum' });

    const processor = new BatchProcessor(EventType.KinesisDataStreams);
    const strict = kplRecordHandler(() => {}, { strict: true });
    expect(await processPartialResponse(event, strict, processor)).toEqual({
      batchItemFailures: [{ itemIdentifier: '5' }],
    });
    expect(processor.errors[0]).toBeInstanceOf(ChecksumMismatchError);

    // A record whose data something else already decoded (say a parser schema) cannot be de-aggregated.
    const parsed = {
      ...corrupt,
      kinesis: { ...corrupt.kinesis, data: { already: 'parsed' } },
    } as unknown as AwsKinesisStreamRecord;
    const noData = new BatchProcessor(EventType.KinesisDataStreams);
    await processPartialResponse({ Records: [parsed, ...event.Records.slice(1)] }, lenient, noData);
    expect(noData.errors[0]).toBeInstanceOf(InvalidRecordError);
  });
});
