import {
  DeregisterStreamConsumerCommand,
  DescribeStreamConsumerCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
  LimitExceededException,
  ListStreamConsumersCommand,
  RegisterStreamConsumerCommand,
  ResourceInUseException,
  ResourceNotFoundException,
} from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KinesisSimulator, startKinesisSimulator } from '../src/index.js';

async function errorOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail');
}

describe('simulator consumer registration through the real KinesisClient', () => {
  let sim: KinesisSimulator;
  let client: KinesisClient;
  let clock = 0;
  const arnOf = (stream: string) => `arn:aws:kinesis:${sim.region}:000000000000:stream/${stream}`;

  beforeAll(async () => {
    sim = await startKinesisSimulator({ now: () => clock, fanOut: { consumerActivationMs: 1_000 } });
    client = sim.createClient({ maxAttempts: 1 });
  });
  afterAll(() => sim.stop());

  it('registers a consumer CREATING, then ACTIVE after the configured delay, found by name or ARN', async () => {
    sim.createStream('reg', 1);
    const registered = await client.send(
      new RegisterStreamConsumerCommand({ StreamARN: arnOf('reg'), ConsumerName: 'app' }),
    );
    const consumer = registered.Consumer;
    expect(consumer?.ConsumerStatus).toBe('CREATING');
    expect(consumer?.ConsumerARN).toMatch(
      /^arn:aws:kinesis:us-east-1:000000000000:stream\/reg\/consumer\/app:\d+$/,
    );
    expect(consumer?.ConsumerCreationTimestamp).toBeInstanceOf(Date);
    const byName = await client.send(
      new DescribeStreamConsumerCommand({ StreamARN: arnOf('reg'), ConsumerName: 'app' }),
    );
    expect(byName.ConsumerDescription?.ConsumerStatus).toBe('CREATING');
    expect(byName.ConsumerDescription?.StreamARN).toBe(arnOf('reg'));
    clock += 1_000;
    const byArn = await client.send(
      new DescribeStreamConsumerCommand({ ConsumerARN: consumer?.ConsumerARN }),
    );
    expect(byArn.ConsumerDescription?.ConsumerStatus).toBe('ACTIVE');
    const summary = await client.send(new DescribeStreamSummaryCommand({ StreamName: 'reg' }));
    expect(summary.StreamDescriptionSummary?.ConsumerCount).toBe(1);
    const missing = await errorOf(
      client.send(new DescribeStreamConsumerCommand({ StreamARN: arnOf('reg'), ConsumerName: 'other' })),
    );
    expect(missing).toBeInstanceOf(ResourceNotFoundException);
    const noStream = await errorOf(
      client.send(new RegisterStreamConsumerCommand({ StreamARN: arnOf('nope'), ConsumerName: 'app' })),
    );
    expect(noStream).toBeInstanceOf(ResourceNotFoundException);
  });

  it('creates exactly one consumer when 25 workers register the same name at once', async () => {
    sim.createStream('race', 1);
    const results = await Promise.allSettled(
      Array.from({ length: 25 }, () =>
        client.send(new RegisterStreamConsumerCommand({ StreamARN: arnOf('race'), ConsumerName: 'shared' })),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = results.filter((r) => r.status === 'rejected').map((r) => r.reason);
    expect(refused).toHaveLength(24);
    for (const error of refused) expect(error).toBeInstanceOf(ResourceInUseException);
    const listed = await client.send(new ListStreamConsumersCommand({ StreamARN: arnOf('race') }));
    expect(listed.Consumers?.map((c) => c.ConsumerName)).toEqual(['shared']);
  });

  it('refuses a sixth CREATING consumer and a 21st consumer with LimitExceededException', async () => {
    sim.createStream('limits', 1);
    const register = (name: string) =>
      client.send(new RegisterStreamConsumerCommand({ StreamARN: arnOf('limits'), ConsumerName: name }));
    const burst = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => register(`c${i}`)));
    expect(burst.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    const refused = burst.find((r) => r.status === 'rejected');
    expect(refused?.status === 'rejected' && refused.reason).toBeInstanceOf(LimitExceededException);
    let registered = 5;
    while (registered < 20) {
      clock += 1_000; // the CREATING ones become ACTIVE, so five more may start
      await Promise.all(Array.from({ length: 5 }, () => register(`c${registered++}`)));
    }
    clock += 1_000;
    expect(await errorOf(register('c20'))).toBeInstanceOf(LimitExceededException);

    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(
        new ListStreamConsumersCommand({ StreamARN: arnOf('limits'), MaxResults: 6, NextToken: token }),
      );
      expect((page.Consumers ?? []).length).toBeLessThanOrEqual(6);
      names.push(...(page.Consumers ?? []).map((c) => c.ConsumerName ?? ''));
      token = page.NextToken;
    } while (token);
    expect(names).toEqual(Array.from({ length: 20 }, (_, i) => `c${i}`));
  });

  it('deregisters: DELETING for the delay, then gone and the name free again', async () => {
    sim.createStream('dereg', 1);
    const { Consumer } = await client.send(
      new RegisterStreamConsumerCommand({ StreamARN: arnOf('dereg'), ConsumerName: 'old' }),
    );
    clock += 1_000;
    await client.send(new DeregisterStreamConsumerCommand({ ConsumerARN: Consumer?.ConsumerARN }));
    const deleting = await client.send(
      new DescribeStreamConsumerCommand({ ConsumerARN: Consumer?.ConsumerARN }),
    );
    expect(deleting.ConsumerDescription?.ConsumerStatus).toBe('DELETING');
    expect(
      await errorOf(
        client.send(new RegisterStreamConsumerCommand({ StreamARN: arnOf('dereg'), ConsumerName: 'old' })),
      ),
    ).toBeInstanceOf(ResourceInUseException);
    clock += 1_000;
    expect(
      await errorOf(client.send(new DescribeStreamConsumerCommand({ ConsumerARN: Consumer?.ConsumerARN }))),
    ).toBeInstanceOf(ResourceNotFoundException);
    const again = await client.send(
      new RegisterStreamConsumerCommand({ StreamARN: arnOf('dereg'), ConsumerName: 'old' }),
    );
    expect(again.Consumer?.ConsumerStatus).toBe('CREATING');
  });

  it('refuses fan-out options out of range', async () => {
    await expect(startKinesisSimulator({ fanOut: { maxConsumersPerStream: 0 } })).rejects.toThrow(
      /maxConsumersPerStream/,
    );
    await expect(startKinesisSimulator({ fanOut: { subscriptionLifetimeMs: 1 } })).rejects.toThrow(
      /subscriptionLifetimeMs/,
    );
  });
});
