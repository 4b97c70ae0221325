import {
  DeregisterStreamConsumerCommand,
  InvalidArgumentException,
  KinesisClient,
  ResourceInUseException,
  ResourceNotFoundException,
  SubscribeToShardCommand,
} from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KinesisSimulator, LOCAL_CREDENTIALS, startKinesisSimulator } from '../src/index.js';
import { errorOf, putRecords, registerConsumer, subscribe, waitFor } from './fanOutHelpers.js';

const SHARD = 'shardId-000000000000';
const KiB = 1024;

describe('SubscribeToShard over HTTP/2 with the SDK default client', () => {
  let sim: KinesisSimulator;
  let client: KinesisClient;
  let writer: KinesisClient;

  beforeAll(async () => {
    sim = await startKinesisSimulator({
      shardLimits: false,
      fanOut: {
        consumerActivationMs: 0,
        idleEventIntervalMs: 100,
        subscriptionLifetimeMs: 60_000,
        resubscribeCooldownMs: 1_000,
        bytesPerSecond: 64 * 1024 * 1024,
      },
    });
    // The SDK's default handler, exactly as an application builds its client.
    client = new KinesisClient({
      endpoint: sim.endpoint,
      region: sim.region,
      credentials: LOCAL_CREDENTIALS,
      maxAttempts: 1,
    });
    writer = sim.createClient();
  });
  afterAll(async () => {
    client.destroy();
    await sim.stop();
  });

  it('delivers what was put and what is put later, with continuation numbers and lag', async () => {
    sim.createStream('deliver', 1);
    const arn = await registerConsumer(sim, client, 'deliver', 'app');
    await putRecords(writer, 'deliver', 'old', 100);
    const reader = await subscribe(client, arn, SHARD, { Type: 'TRIM_HORIZON' });
    await waitFor(() => reader.data.length >= 100);
    await putRecords(writer, 'deliver', 'new', 5);
    await waitFor(() => reader.data.length >= 105);
    expect(reader.data).toEqual([
      ...Array.from({ length: 100 }, (_, i) => `old-${i}`),
      ...Array.from({ length: 5 }, (_, i) => `new-${i}`),
    ]);
    const withRecords = reader.events.filter((e) => (e.Records ?? []).length > 0);
    const last = withRecords[withRecords.length - 1];
    expect(last?.ContinuationSequenceNumber).toBe(last?.Records?.[last.Records.length - 1]?.SequenceNumber);
    expect(last?.MillisBehindLatest).toBe(0);
    // Idle events keep coming with a continuation number and no records.
    const seen = reader.events.length;
    await waitFor(() => reader.events.length >= seen + 2);
    const idle = reader.events[reader.events.length - 1];
    expect(idle?.Records).toEqual([]);
    expect(idle?.ContinuationSequenceNumber).toBe(last?.ContinuationSequenceNumber);
    reader.abort();
    expect(await reader.ended).toBeUndefined();
    await waitFor(() => sim.subscriptions().length === 0);
    expect(sim.fanOutStats().recordsSent).toBeGreaterThanOrEqual(105);
  });

  it('resumes AFTER_SEQUENCE_NUMBER of an idle continuation on an empty shard', async () => {
    sim.createStream('empty', 1);
    const arn = await registerConsumer(sim, client, 'empty', 'app');
    const first = await subscribe(client, arn, SHARD, { Type: 'LATEST' });
    await waitFor(() => first.events.length >= 1);
    const continuation = first.events[0]?.ContinuationSequenceNumber;
    expect(continuation).toMatch(/^\d{56}$/);
    first.abort();
    await putRecords(writer, 'empty', 'e', 3);
    const other = await registerConsumer(sim, client, 'empty', 'other');
    const resumed = await subscribe(client, other, SHARD, {
      Type: 'AFTER_SEQUENCE_NUMBER',
      SequenceNumber: continuation,
    });
    await waitFor(() => resumed.data.length >= 3);
    expect(resumed.data).toEqual(['e-0', 'e-1', 'e-2']);
    resumed.abort();
  });

  it('refuses a re-subscribe within the cooldown; a later one takes over and the old one ends with ResourceInUse', async () => {
    sim.createStream('takeover', 1);
    const arn = await registerConsumer(sim, client, 'takeover', 'app');
    const first = await subscribe(client, arn, SHARD, { Type: 'TRIM_HORIZON' });
    const fast = await errorOf(subscribe(client, arn, SHARD, { Type: 'TRIM_HORIZON' }));
    expect(fast).toBeInstanceOf(ResourceInUseException);
    // Another shard or another consumer is not affected.
    const other = await registerConsumer(sim, client, 'takeover', 'other');
    const parallel = await subscribe(client, other, SHARD, { Type: 'TRIM_HORIZON' });
    let second: Awaited<ReturnType<typeof subscribe>> | undefined;
    let refusals = 0;
    while (!second) {
      try {
        second = await subscribe(client, arn, SHARD, { Type: 'TRIM_HORIZON' });
      } catch (error) {
        expect(error).toBeInstanceOf(ResourceInUseException);
        refusals += 1;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(refusals).toBeLessThan(200);
    }
    expect(await first.ended).toBeInstanceOf(ResourceInUseException);
    expect(parallel.done).toBe(false);
    second.abort();
    parallel.abort();
  });

  it('ends the subscriptions of a deregistered consumer with ResourceNotFoundException', async () => {
    sim.createStream('gone', 1);
    const arn = await registerConsumer(sim, client, 'gone', 'app');
    const reader = await subscribe(client, arn, SHARD, { Type: 'LATEST' });
    await client.send(new DeregisterStreamConsumerCommand({ ConsumerARN: arn }));
    expect(await reader.ended).toBeInstanceOf(ResourceNotFoundException);
    expect(sim.subscriptions()).toEqual([]);
  });

  it('ends the subscription cleanly at the configured lifetime', async () => {
    const short = await startKinesisSimulator({
      streams: [{ streamName: 'life', shardCount: 1 }],
      fanOut: { consumerActivationMs: 0, subscriptionLifetimeMs: 500, idleEventIntervalMs: 50 },
    });
    try {
      const h2 = short.createHttp2Client({ maxAttempts: 1 });
      const arn = await registerConsumer(short, h2, 'life', 'app');
      const reader = await subscribe(h2, arn, SHARD, { Type: 'LATEST' });
      expect(await reader.ended).toBeUndefined();
      expect(reader.events.length).toBeGreaterThanOrEqual(1);
      expect(short.fanOutStats()).toMatchObject({ started: 1, open: 0 });
    } finally {
      await short.stop();
    }
  });

  it('ends a closed shard with ChildShards and no continuation number', async () => {
    sim.createStream('ending', 1);
    const arn = await registerConsumer(sim, client, 'ending', 'app');
    await putRecords(writer, 'ending', 'p', 10);
    const [left, right] = sim.splitShard('ending', SHARD);
    const reader = await subscribe(client, arn, SHARD, { Type: 'TRIM_HORIZON' });
    expect(await reader.ended).toBeUndefined();
    expect(reader.data).toHaveLength(10);
    const last = reader.events[reader.events.length - 1];
    expect(last?.ContinuationSequenceNumber).toBeUndefined();
    expect(last?.ChildShards?.map((c) => c.ShardId)).toEqual([left, right]);
    expect(last?.ChildShards?.[0]?.ParentShards).toEqual([SHARD]);
  });

  it('refuses a consumer that is not ACTIVE, and an HTTP/1.1 client with a clear error', async () => {
    const slow = await startKinesisSimulator({
      streams: [{ streamName: 'slow', shardCount: 1 }],
      fanOut: { consumerActivationMs: 60_000 },
    });
    try {
      const h2 = slow.createHttp2Client({ maxAttempts: 1 });
      const arn = await registerConsumer(slow, h2, 'slow', 'app');
      const creating = await errorOf(subscribe(h2, arn, SHARD, { Type: 'LATEST' }));
      expect(creating).toBeInstanceOf(ResourceInUseException);
      expect(creating.message).toMatch(/not in ACTIVE status/);
      const http1 = slow.createClient({ maxAttempts: 1 });
      const wrongHandler = await errorOf(
        http1.send(
          new SubscribeToShardCommand({
            ConsumerARN: arn,
            ShardId: SHARD,
            StartingPosition: { Type: 'LATEST' },
          }),
        ),
      );
      expect(wrongHandler).toBeInstanceOf(InvalidArgumentException);
      expect(wrongHandler.message).toMatch(/HTTP\/2/);
    } finally {
      await slow.stop();
    }
  });

  it('honours HTTP/2 flow control: a reader that stops reading stops the server, then gets everything', async () => {
    sim.createStream('flow', 1);
    const arn = await registerConsumer(sim, client, 'flow', 'app');
    const total = 8 * 1024 * KiB;
    await putRecords(writer, 'flow', 'f', 128, 64 * KiB);
    const controller = new AbortController();
    const response = await client.send(
      new SubscribeToShardCommand({
        ConsumerARN: arn,
        ShardId: SHARD,
        StartingPosition: { Type: 'TRIM_HORIZON' },
      }),
      { abortSignal: controller.signal },
    );
    const sent = () => sim.subscriptions().find((s) => s.consumerArn === arn)?.bytesSent ?? 0;
    // Not reading: the server stops once the HTTP/2 windows and one event are full.
    await waitFor(() => sent() > 0);
    let previous = -1;
    while (sent() !== previous) {
      previous = sent();
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    expect(sent()).toBeLessThan(total / 2);
    let received = 0;
    for await (const event of response.EventStream ?? []) {
      for (const record of event.SubscribeToShardEvent?.Records ?? []) received += record.Data?.length ?? 0;
      if (received >= total) break;
    }
    expect(received).toBe(total);
    controller.abort();
  });
});

describe('SubscribeToShard rate per consumer per shard', () => {
  it('delivers at most bytesPerSecond (plus one record) per consumer per shard', async () => {
    const sim = await startKinesisSimulator({
      streams: [{ streamName: 'rate', shardCount: 1 }],
      shardLimits: false,
      fanOut: { consumerActivationMs: 0, bytesPerSecond: 256 * KiB },
    });
    try {
      const h2 = sim.createHttp2Client({ maxAttempts: 1 });
      await putRecords(sim.createClient(), 'rate', 'r', 64, 16 * KiB - 8);
      const arns = [
        await registerConsumer(sim, h2, 'rate', 'a'),
        await registerConsumer(sim, h2, 'rate', 'b'),
      ];
      const started = performance.now();
      const readers = await Promise.all(
        arns.map((arn) => subscribe(h2, arn, SHARD, { Type: 'TRIM_HORIZON' })),
      );
      await waitFor(() => readers.every((r) => r.data.length === 64));
      // 1 MiB at 256 KiB/s with a full first second: at least 3 s (a lower bound, which load cannot break).
      // Both consumers got all of it in that time: each has its own budget.
      expect(performance.now() - started).toBeGreaterThanOrEqual(2_900);
      for (const reader of readers) {
        expect(reader.events.filter((e) => (e.Records ?? []).length > 0).length).toBeGreaterThanOrEqual(4);
        reader.abort();
      }
    } finally {
      await sim.stop();
    }
  });
});
