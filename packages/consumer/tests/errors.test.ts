import {
  ConditionalCheckFailedException,
  ResourceNotFoundException as DynamoResourceNotFound,
  ProvisionedThroughputExceededException as DynamoThroughputExceeded,
  InternalServerError,
  ListTablesCommand,
} from '@aws-sdk/client-dynamodb';
import {
  KinesisClient,
  KMSAccessDeniedException,
  KMSThrottlingException,
  ProvisionedThroughputExceededException,
  ResourceNotFoundException,
} from '@aws-sdk/client-kinesis';
import { createStream, Faults, injectDynamoDBFaults, uniqueName } from '@shardline/testkit';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { isRetriableAwsError, LeaseTableError, StreamError } from '../src/index.js';
import { localStack, makeConsumer } from './helpers.js';

const stack = localStack();
afterAll(() => stack.destroy());

const meta = (httpStatusCode: number) => ({ $metadata: { httpStatusCode } });
const named = (name: string, message: string, extra: Record<string, unknown> = {}): Error =>
  Object.assign(new Error(message), { name, ...extra });

describe('isRetriableAwsError: one classifier, from the AWS error', () => {
  it.each([
    [
      'Kinesis throughput exceeded',
      new ProvisionedThroughputExceededException({ message: 'x', ...meta(400) }),
    ],
    ['DynamoDB throughput exceeded', new DynamoThroughputExceeded({ message: 'x', ...meta(400) })],
    ['KMS throttling', new KMSThrottlingException({ message: 'x', ...meta(400) })],
    ['DynamoDB 500', new InternalServerError({ message: 'x', ...meta(500) })],
    ['throttling by name', named('ThrottlingException', 'Rate exceeded', meta(400))],
    ['503 of any name', named('ServiceUnavailable', 'down', meta(503))],
    ['socket timeout', named('TimeoutError', 'timed out')],
    ['connection reset', named('Error', 'socket hang up', { code: 'ECONNRESET' })],
    [
      'a reset wrapped as a cause',
      new Error('outer', { cause: named('Error', 'reset', { code: 'ECONNRESET' }) }),
    ],
    ['something that is not an AWS error', new Error('who knows')],
  ])('retriable: %s', (_label, error) => {
    expect(isRetriableAwsError(error)).toBe(true);
  });

  it.each([
    [
      'AccessDenied (DynamoDB)',
      named('AccessDeniedException', 'not authorized', { $fault: 'client', ...meta(400) }),
    ],
    ['Kinesis stream not found', new ResourceNotFoundException({ message: 'x', ...meta(400) })],
    ['DynamoDB table not found', new DynamoResourceNotFound({ message: 'x', ...meta(400) })],
    ['KMS access denied', new KMSAccessDeniedException({ message: 'x', ...meta(400) })],
    ['KMS key disabled', named('KMSDisabledException', 'disabled', meta(400))],
    ['validation', named('ValidationException', 'bad expression', { $fault: 'client', ...meta(400) })],
    ['unknown client fault', named('SomethingNewException', 'no', { $fault: 'client', ...meta(400) })],
    [
      'missing credentials',
      named('CredentialsProviderError', 'Could not load credentials from any providers'),
    ],
    ['missing region', new Error('Region is missing')],
  ])('not retriable: %s', (_label, error) => {
    expect(isRetriableAwsError(error)).toBe(false);
  });

  it('a conditional race is never an error: the store returns it as a value (not classified here)', () => {
    // The store catches ConditionalCheckFailedException itself; classified alone it is a client fault.
    expect(isRetriableAwsError(new ConditionalCheckFailedException({ message: 'x', ...meta(400) }))).toBe(
      false,
    );
  });
});

describe('start() says plainly why it cannot start', () => {
  it('AccessDenied on the lease table: rejects at once with a typed, non-retriable error, no retry loop', async () => {
    const streamName = uniqueName('denied');
    const applicationName = uniqueName('app');
    await createStream(stack.kinesis, { streamName, shardCount: 1 });
    const dynamoDBClient = stack.createDynamoDBClient();
    const faults = injectDynamoDBFaults(dynamoDBClient, {
      seed: 1,
      rules: [
        {
          name: 'denied',
          action: Faults.serviceError(
            400,
            'com.amazon.coral.service#AccessDeniedException',
            'User: arn:aws:iam::000000000000:user/x is not authorized to perform: dynamodb:DescribeTable',
          ),
        },
      ],
    });
    const consumer = makeConsumer(
      { ...stack, dynamoDB: dynamoDBClient },
      {
        streamName,
        applicationName,
        processor: async () => {},
      },
    );
    const started = Date.now();
    const error = await consumer.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LeaseTableError);
    expect(error).toMatchObject({
      code: 'LEASE_TABLE',
      retriable: false,
      awsErrorName: 'AccessDeniedException',
    });
    expect((error as Error).message).toMatch(
      /DescribeTable failed: AccessDeniedException: User: .* not authorized/,
    );
    expect(faults.counters().attempts).toBe(1); // neither we nor the SDK retried it
    expect(Date.now() - started).toBeLessThan(5_000);
    await consumer.stop({ timeoutMs: 1_000 });
  });

  it('a misspelt stream: StreamError (ResourceNotFoundException), and no lease table left behind', async () => {
    const applicationName = uniqueName('app');
    const consumer = makeConsumer(stack, {
      streamName: uniqueName('no-such-stream'),
      applicationName,
      processor: async () => {},
    });
    const error = await consumer.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StreamError);
    expect(error).toMatchObject({
      code: 'STREAM',
      retriable: false,
      awsErrorName: 'ResourceNotFoundException',
    });
    expect((error as Error).message).toMatch(/ListShards failed: ResourceNotFoundException/);
    const { TableNames = [] } = await stack.dynamoDB.send(new ListTablesCommand({}));
    expect(TableNames).not.toContain(applicationName);
    await consumer.stop({ timeoutMs: 1_000 });
  });

  it('no region, or no credentials: a non-retriable error that says so', async () => {
    const streamName = uniqueName('noregion');
    await createStream(stack.kinesis, { streamName, shardCount: 1 });
    // Both fail before a request is sent (signing needs the region and the credentials).
    const url = inject('localStack').kinesisEndpoint;
    const noRegion = new KinesisClient({
      endpoint: url,
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
      region: async () => {
        throw new Error('Region is missing');
      },
    });
    const noCredentials = new KinesisClient({
      endpoint: url,
      region: 'us-east-1',
      credentials: async () => {
        throw named('CredentialsProviderError', 'Could not load credentials from any providers');
      },
    });
    for (const [kinesisClient, pattern] of [
      [noRegion, /Region is missing/],
      [noCredentials, /CredentialsProviderError: Could not load credentials/],
    ] as const) {
      const consumer = makeConsumer(
        { ...stack, kinesis: kinesisClient },
        { streamName, applicationName: uniqueName('app'), processor: async () => {} },
      );
      const error = await consumer.start().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(StreamError);
      expect(error).toMatchObject({ retriable: false });
      expect((error as Error).message).toMatch(pattern);
      await consumer.stop({ timeoutMs: 1_000 });
    }
    noRegion.destroy();
    noCredentials.destroy();
  });
});
