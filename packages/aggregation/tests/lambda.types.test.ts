// Type-level checks (run by `tsc -p tsconfig.tests.json`): the event types from @types/aws-lambda are
// assignable to ours, and our response to theirs, so users pass Lambda's event straight in.
import type {
  KinesisStreamBatchResponse as AwsBatchResponse,
  KinesisStreamEvent as AwsEvent,
  KinesisStreamRecordPayload as AwsPayload,
  KinesisStreamHandler,
} from 'aws-lambda';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { KinesisRecordInput } from '../src/index.js';
import {
  type KinesisStreamBatchResponse,
  type KinesisStreamEvent,
  processKinesisEvent,
} from '../src/lambda.js';

describe('Lambda types', () => {
  it('accepts @types/aws-lambda events and returns their batch response', async () => {
    expectTypeOf<AwsEvent>().toExtend<KinesisStreamEvent>();
    expectTypeOf<AwsPayload>().toExtend<KinesisRecordInput>();
    expectTypeOf<KinesisStreamBatchResponse>().toExtend<AwsBatchResponse>();

    const handler: KinesisStreamHandler = async (event) => processKinesisEvent(event, () => {});
    const event: AwsEvent = {
      Records: [
        {
          awsRegion: 'us-east-1',
          eventID: 'shardId-000000000000:1',
          eventName: 'aws:kinesis:record',
          eventSource: 'aws:kinesis',
          eventSourceARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/s',
          eventVersion: '1.0',
          invokeIdentityArn: 'arn:aws:iam::000000000000:role/r',
          kinesis: {
            approximateArrivalTimestamp: 1,
            data: Buffer.from('hello').toString('base64'),
            kinesisSchemaVersion: '1.0',
            partitionKey: 'pk',
            sequenceNumber: '1',
          },
        },
      ],
    };
    const response = await new Promise((resolve, reject) => {
      const result = handler(event, {} as Parameters<KinesisStreamHandler>[1], (error, value) =>
        error ? reject(error) : resolve(value),
      );
      if (result) result.then(resolve, reject);
    });
    expect(response).toEqual({ batchItemFailures: [] });
  });
});
