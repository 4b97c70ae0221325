import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DynamoDBClient,
  ProvisionedThroughputExceededException as DynamoDBThroughputExceeded,
  GetItemCommand,
  PutItemCommand,
  ThrottlingException,
  UpdateItemCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import {
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  ProvisionedThroughputExceededException,
  PutRecordsCommand,
  type PutRecordsRequestEntry,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createStream,
  FaultPlanError,
  Faults,
  injectDynamoDBFaults,
  injectKinesisFaults,
  type KinesisSimulator,
  LOCAL_CREDENTIALS,
  readAllRecords,
  startKinesisSimulator,
  uniqueName,
} from '../src/index.js';

type SdkError = Error & {
  $metadata?: { httpStatusCode?: number; attempts?: number };
  $fault?: string;
  code?: string;
};

async function errorOf(promise: Promise<unknown>): Promise<SdkError> {
  try {
    await promise;
  } catch (error) {
    return error as SdkError;
  }
  throw new Error('expected the call to fail');
}

function records(count: number, prefix: string): PutRecordsRequestEntry[] {
  return Array.from({ length: count }, (_, i) => ({
    PartitionKey: `${prefix}-${i}`,
    Data: Buffer.from(`${prefix}-${i}`),
  }));
}

const endpoints = inject('localStack');
const made: Array<{ destroy(): void }> = [];

/** A Kinesis client on the local stack with its own SDK retry budget. */
function kinesisClient(maxAttempts: number, endpoint = endpoints.kinesisEndpoint): KinesisClient {
  const client = new KinesisClient({
    endpoint,
    region: endpoints.region,
    credentials: LOCAL_CREDENTIALS,
    maxAttempts,
    requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: 30_000 }),
  });
  made.push(client);
  return client;
}

function dynamoDBClient(maxAttempts: number): DynamoDBClient {
  const client = new DynamoDBClient({
    endpoint: endpoints.dynamoDBEndpoint,
    region: endpoints.region,
    credentials: LOCAL_CREDENTIALS,
    maxAttempts,
  });
  made.push(client);
  return client;
}

afterAll(() => {
  for (const client of made.splice(0)) client.destroy();
});

describe('PutRecords entry faults (kinesis-local)', () => {
  const streamName = uniqueName('faults');
  let reader: KinesisClient;

  beforeAll(async () => {
    reader = kinesisClient(3);
    await createStream(reader, { streamName, shardCount: 2 });
  });

  it('fails the chosen fractions in request order; only the survivors are written', async () => {
    const client = kinesisClient(1);
    const faults = injectKinesisFaults(client, {
      seed: 42,
      putRecordsEntries: { throughputExceeded: 0.3, internalFailure: 0.1 },
    });
    const sent = records(200, 'frac');
    const response = await client.send(new PutRecordsCommand({ StreamName: streamName, Records: sent }));
    const results = response.Records ?? [];
    expect(results).toHaveLength(200);
    const throttled = results.filter((r) => r.ErrorCode === 'ProvisionedThroughputExceededException');
    const internal = results.filter((r) => r.ErrorCode === 'InternalFailure');
    const ok = results.filter((r) => r.SequenceNumber !== undefined);
    expect(response.FailedRecordCount).toBe(throttled.length + internal.length);
    expect(throttled.length / 200).toBeGreaterThan(0.2);
    expect(throttled.length / 200).toBeLessThan(0.4);
    expect(internal.length / 200).toBeGreaterThan(0.04);
    expect(internal.length / 200).toBeLessThan(0.17);
    expect(ok.length + throttled.length + internal.length).toBe(200);
    for (const r of [...throttled, ...internal]) {
      expect(r.SequenceNumber).toBeUndefined();
      expect(r.ErrorMessage).toBeTruthy();
    }
    expect(faults.counters().entries).toEqual({
      seen: 200,
      forwarded: ok.length,
      throughputExceeded: throttled.length,
      internalFailure: internal.length,
    });

    // Read back through a clean client: exactly the successful entries, where the response said.
    const stored = await readAllRecords(reader, streamName);
    const expected = new Map<string, { data: string; shardId: string | undefined }>();
    results.forEach((r, i) => {
      if (r.SequenceNumber) expected.set(r.SequenceNumber, { data: `frac-${i}`, shardId: r.ShardId });
    });
    expect(stored).toHaveLength(expected.size);
    for (const record of stored) {
      const want = expected.get(record.SequenceNumber ?? '');
      expect(Buffer.from(record.Data ?? []).toString()).toBe(want?.data);
      expect(record.shardId).toBe(want?.shardId);
    }
    faults.remove();
    faults.remove();
  });

  it('answers without calling the service when every entry fails', async () => {
    const client = kinesisClient(1);
    const faults = injectKinesisFaults(client, { putRecordsEntries: { throughputExceeded: 1 } });
    const name = uniqueName('never');
    // The stream does not exist: a forwarded request would fail with ResourceNotFoundException.
    const response = await client.send(new PutRecordsCommand({ StreamName: name, Records: records(5, 'x') }));
    expect(response.FailedRecordCount).toBe(5);
    expect(response.$metadata.httpStatusCode).toBe(200);
    expect(faults.counters()).toMatchObject({
      attempts: 0,
      entries: { forwarded: 0, throughputExceeded: 5 },
    });
  });
});

describe('entry fault determinism (simulator)', () => {
  let sim: KinesisSimulator;
  beforeAll(async () => {
    sim = await startKinesisSimulator({ streams: [{ streamName: 's', shardCount: 2 }], shardLimits: false });
  });
  afterAll(() => sim.stop());

  async function failedIndexes(
    seed: number,
    match?: (e: PutRecordsRequestEntry) => boolean,
  ): Promise<number[]> {
    const client = sim.createClient({ maxAttempts: 1 });
    injectKinesisFaults(client, {
      seed,
      putRecordsEntries: {
        throughputExceeded: 0.2,
        internalFailure: 0.2,
        maxFailures: 60,
        ...(match ? { match } : {}),
      },
    });
    const failed: number[] = [];
    for (let batch = 0; batch < 3; batch++) {
      const response = await client.send(
        new PutRecordsCommand({ StreamName: 's', Records: records(100, `d${batch}`) }),
      );
      response.Records?.forEach((r, i) => {
        if (r.ErrorCode) failed.push(batch * 100 + i);
      });
    }
    return failed;
  }

  it('repeats the same choices for the same seed, other choices for another, within bounds', async () => {
    const first = await failedIndexes(7);
    expect(await failedIndexes(7)).toEqual(first);
    expect(await failedIndexes(8)).not.toEqual(first);
    expect(first).toHaveLength(60); // maxFailures bounds the total
    const onlyEven = await failedIndexes(7, (e) => Number(e.PartitionKey?.split('-')[1]) % 2 === 0);
    expect(onlyEven.every((i) => (i % 100) % 2 === 0)).toBe(true);
  });
});

describe('whole-request faults as the SDK sees them', () => {
  const streamName = uniqueName('requests');
  let reader: KinesisClient;

  beforeAll(async () => {
    reader = kinesisClient(3);
    await createStream(reader, { streamName, shardCount: 1 });
  });

  it('answers 500 and 503 as server errors that the SDK retries', async () => {
    const once = kinesisClient(1);
    injectKinesisFaults(once, { rules: [{ operations: ['ListShards'], action: Faults.serverError(503) }] });
    const unavailable = await errorOf(once.send(new ListShardsCommand({ StreamName: streamName })));
    expect(unavailable.name).toBe('ServiceUnavailable');
    expect(unavailable.$fault).toBe('server');
    expect(unavailable.$metadata?.httpStatusCode).toBe(503);

    const retrying = kinesisClient(3);
    const faults = injectKinesisFaults(retrying, {
      rules: [
        { name: 'first-two-500', operations: ['ListShards'], times: 2, action: Faults.serverError(500) },
      ],
    });
    const listed = await retrying.send(new ListShardsCommand({ StreamName: streamName }));
    expect(listed.Shards).toHaveLength(1);
    expect(listed.$metadata.attempts).toBe(3);
    expect(faults.counters()).toMatchObject({ calls: 1, attempts: 3, byRule: { 'first-two-500': 2 } });
  });

  it('times out and resets connections before the server, or after it wrote', async () => {
    const client = kinesisClient(1);
    const faults = injectKinesisFaults(client, {
      rules: [
        { operations: ['PutRecords'], times: 1, action: Faults.timeout({ afterMs: 20 }) },
        { operations: ['PutRecords'], times: 1, action: Faults.connectionReset() },
        { operations: ['PutRecords'], times: 1, action: Faults.timeout({ reachesServer: true }) },
      ],
    });
    const put = (tag: string) =>
      client.send(
        new PutRecordsCommand({
          StreamName: streamName,
          Records: [{ PartitionKey: tag, Data: Buffer.from(tag) }],
        }),
      );
    const timeout = await errorOf(put('lost-timeout'));
    expect(timeout.name).toBe('TimeoutError');
    const reset = await errorOf(put('lost-reset'));
    expect(reset.code).toBe('ECONNRESET');
    const late = await errorOf(put('written-timeout'));
    expect(late.name).toBe('TimeoutError');
    expect((await put('clean')).FailedRecordCount).toBe(0);
    expect(faults.counters().byKind).toMatchObject({ timeout: 2, reset: 1 });

    const stored = (await readAllRecords(reader, streamName)).map((r) =>
      Buffer.from(r.Data ?? []).toString(),
    );
    expect(stored.sort()).toEqual(['clean', 'written-timeout']);

    // The SDK classifies a reset as transient and retries it.
    const retrying = kinesisClient(2);
    injectKinesisFaults(retrying, { rules: [{ times: 1, action: Faults.connectionReset() }] });
    const listed = await retrying.send(new ListShardsCommand({ StreamName: streamName }));
    expect(listed.$metadata.attempts).toBe(2);
  });

  it('delays attempts, and can be paused, replaced and removed', async () => {
    const client = kinesisClient(1);
    const faults = injectKinesisFaults(client, { rules: [{ action: Faults.delay(150) }] });
    const list = () => client.send(new ListShardsCommand({ StreamName: streamName }));
    const started = performance.now();
    await list();
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);

    faults.pause();
    await list();
    expect(faults.counters().byKind.delay).toBe(1);
    faults.resume();
    faults.setPlan({ rules: [{ action: Faults.serverError(500) }] });
    expect((await errorOf(list())).name).toBe('InternalFailure');
    faults.remove();
    expect((await list()).Shards).toHaveLength(1);
    expect(faults.counters().byKind).toMatchObject({ delay: 1, serviceError: 1 });
  });

  it('throttles GetRecords and expires iterators with the SDK typed exceptions', async () => {
    const client = kinesisClient(1);
    injectKinesisFaults(client, {
      rules: [
        { operations: ['GetRecords'], times: 1, action: Faults.throughputExceeded() },
        { operations: ['GetRecords'], times: 1, action: Faults.expiredIterator() },
      ],
    });
    const shardId = (await reader.send(new ListShardsCommand({ StreamName: streamName }))).Shards?.[0]
      ?.ShardId;
    const { ShardIterator } = await client.send(
      new GetShardIteratorCommand({
        StreamName: streamName,
        ShardId: shardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    const get = () => client.send(new GetRecordsCommand({ ShardIterator }));
    const throttled = await errorOf(get());
    expect(throttled).toBeInstanceOf(ProvisionedThroughputExceededException);
    expect(throttled.$metadata?.httpStatusCode).toBe(400);
    expect(await errorOf(get())).toBeInstanceOf(ExpiredIteratorException);
    expect((await get()).Records?.length).toBeGreaterThan(0);
  });

  it('rejects invalid plans', () => {
    const client = kinesisClient(1);
    expect(() =>
      injectKinesisFaults(client, { rules: [{ probability: 2, action: Faults.serverError() }] }),
    ).toThrow(FaultPlanError);
    expect(() =>
      injectKinesisFaults(client, { putRecordsEntries: { throughputExceeded: 0.7, internalFailure: 0.5 } }),
    ).toThrow(FaultPlanError);
    expect(() => injectKinesisFaults(client, { rules: [{ action: Faults.delay(10_000_000) }] })).toThrow(
      FaultPlanError,
    );
  });
});

describe('DynamoDB faults (dynalite)', () => {
  const tableName = uniqueName('leases');
  let admin: DynamoDBClient;

  beforeAll(async () => {
    admin = dynamoDBClient(3);
    await admin.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    // Written only once ACTIVE: dynalite, like AWS, can refuse writes to a CREATING table.
    await waitUntilTableExists(
      { client: admin, maxWaitTime: 10, minDelay: 1, maxDelay: 1 },
      { TableName: tableName },
    );
    for (const leaseKey of ['shard-0', 'shard-1']) {
      await admin.send(
        new PutItemCommand({
          TableName: tableName,
          Item: { leaseKey: { S: leaseKey }, leaseCounter: { N: '0' } },
        }),
      );
    }
  });

  const bump = (leaseKey: string) =>
    new UpdateItemCommand({
      TableName: tableName,
      Key: { leaseKey: { S: leaseKey } },
      UpdateExpression: 'SET leaseCounter = leaseCounter + :one',
      ExpressionAttributeValues: { ':one': { N: '1' } },
    });
  const counterOf = async (leaseKey: string) =>
    (await admin.send(new GetItemCommand({ TableName: tableName, Key: { leaseKey: { S: leaseKey } } }))).Item
      ?.leaseCounter?.N;

  it('fails the next N matching UpdateItem calls with ConditionalCheckFailedException, writing nothing', async () => {
    const client = dynamoDBClient(3);
    const faults = injectDynamoDBFaults(client, {
      rules: [
        {
          operations: ['UpdateItem'],
          match: (call) => JSON.stringify(call.input.Key).includes('shard-1'),
          times: 2,
          action: Faults.conditionalCheckFailed({ leaseKey: { S: 'shard-1' }, leaseOwner: { S: 'thief' } }),
        },
      ],
    });
    await client.send(bump('shard-0'));
    const first = await errorOf(client.send(bump('shard-1')));
    expect(first).toBeInstanceOf(ConditionalCheckFailedException);
    expect((first as ConditionalCheckFailedException).Item?.leaseOwner?.S).toBe('thief');
    expect(first.$metadata?.attempts).toBe(1); // not retried by the SDK
    expect(await errorOf(client.send(bump('shard-1')))).toBeInstanceOf(ConditionalCheckFailedException);
    await client.send(bump('shard-1'));
    expect(await counterOf('shard-0')).toBe('1');
    expect(await counterOf('shard-1')).toBe('1');
    expect(faults.counters()).toMatchObject({ calls: 4, byKind: { serviceError: 2 } });
  });

  it('throttles with ThrottlingException and ProvisionedThroughputExceededException, retried by the SDK', async () => {
    const strict = dynamoDBClient(1);
    injectDynamoDBFaults(strict, {
      rules: [
        { operations: ['GetItem'], times: 1, action: Faults.dynamoDBThrottling() },
        { operations: ['GetItem'], times: 1, action: Faults.dynamoDBThroughputExceeded() },
      ],
    });
    const get = () =>
      strict.send(new GetItemCommand({ TableName: tableName, Key: { leaseKey: { S: 'shard-0' } } }));
    const throttled = await errorOf(get());
    expect(throttled).toBeInstanceOf(ThrottlingException);
    expect(throttled.$metadata?.httpStatusCode).toBe(400);
    expect(await errorOf(get())).toBeInstanceOf(DynamoDBThroughputExceeded);
    expect((await get()).Item).toBeDefined();

    const retrying = dynamoDBClient(3);
    injectDynamoDBFaults(retrying, { rules: [{ times: 1, action: Faults.dynamoDBThrottling() }] });
    const got = await retrying.send(
      new GetItemCommand({ TableName: tableName, Key: { leaseKey: { S: 'shard-0' } } }),
    );
    expect(got.$metadata.attempts).toBe(2);
  });

  it('runs a hook before an attempt, for a real race', async () => {
    const client = dynamoDBClient(1);
    injectDynamoDBFaults(client, {
      rules: [
        {
          operations: ['UpdateItem'],
          times: 1,
          action: Faults.hook(async () => {
            await admin.send(
              new PutItemCommand({
                TableName: tableName,
                Item: { leaseKey: { S: 'shard-0' }, leaseCounter: { N: '41' } },
              }),
            );
          }),
        },
      ],
    });
    const conditional = new UpdateItemCommand({
      TableName: tableName,
      Key: { leaseKey: { S: 'shard-0' } },
      UpdateExpression: 'SET leaseCounter = :two',
      ConditionExpression: 'leaseCounter = :one',
      ExpressionAttributeValues: { ':one': { N: '1' }, ':two': { N: '2' } },
    });
    // dynalite itself fails the condition, because the hook changed the item first.
    expect(await errorOf(client.send(conditional))).toBeInstanceOf(ConditionalCheckFailedException);
    expect(await counterOf('shard-0')).toBe('41');
  });
});
