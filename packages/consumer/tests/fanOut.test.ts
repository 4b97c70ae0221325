/**
 * Enhanced fan-out end to end: real SDK v3 clients, SubscribeToShard over HTTP/2 (the SDK's default
 * NodeHttp2Handler) against the testkit's Kinesis simulator, leases in dynalite.
 */
import {
  type KinesisClient,
  ListStreamConsumersCommand,
  PutRecordCommand,
  PutRecordsCommand,
  RegisterStreamConsumerCommand,
  SubscribeToShardCommand,
} from '@aws-sdk/client-kinesis';
import { RecordAggregator } from '@shardline/aggregation';
import { type KinesisSimulator, startKinesisSimulator, uniqueName } from '@shardline/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConsumerEvents,
  KinesisConsumer,
  type KinesisConsumerOptions,
  RecordFailedError,
  type UserRecord,
} from '../src/index.js';
import { FAST, localStack, putKeyed, waitFor } from './helpers.js';

const stack = localStack();
const text = (record: UserRecord): string => new TextDecoder().decode(record.data);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let sim: KinesisSimulator;
let writer: KinesisClient;
beforeAll(async () => {
  sim = await startKinesisSimulator({
    shardLimits: false,
    fanOut: { consumerActivationMs: 200, subscriptionLifetimeMs: 1_500, idleEventIntervalMs: 300 },
  });
  writer = sim.createClient();
});
afterAll(async () => {
  await sim.stop();
  stack.destroy();
});

const running: KinesisConsumer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.stop({ timeoutMs: 5_000 })));
});

function consumer(
  streamName: string,
  options: Partial<KinesisConsumerOptions> & Pick<KinesisConsumerOptions, 'processor' | 'applicationName'>,
  simulator: KinesisSimulator = sim,
): KinesisConsumer {
  const created = new KinesisConsumer({
    kinesisClient: simulator.createHttp2Client(),
    dynamoDBClient: stack.dynamoDB,
    streamName,
    initialPosition: 'TRIM_HORIZON',
    ...FAST,
    retrieval: { mode: 'fan-out', consumerName: options.applicationName },
    ...options,
  });
  running.push(created);
  return created;
}

/** Counts every delivery of every record. */
function tally() {
  const seen = new Map<string, number>();
  const order: string[] = [];
  return {
    seen,
    order,
    processor: async (records: UserRecord[]): Promise<void> => {
      for (const record of records) {
        seen.set(text(record), (seen.get(text(record)) ?? 0) + 1);
        order.push(text(record));
      }
    },
  };
}

function expectEachOnce(seen: Map<string, number>, expected: number): void {
  expect(seen.size).toBe(expected);
  expect([...seen.values()].every((n) => n === 1)).toBe(true);
}

describe('enhanced fan-out', () => {
  it('reads everything written, across subscription expiries mid-stream, once each, without GetRecords', async () => {
    const streamName = uniqueName('efo');
    sim.createStream(streamName, 2);
    const { seen, processor } = tally();
    const worker = consumer(streamName, { applicationName: uniqueName('app'), processor });
    await worker.start();
    const startedBefore = sim.fanOutStats().started;
    let written = 0;
    // Writes spread over several subscription lifetimes (1.5 s), so renewals happen while records flow.
    for (let wave = 0; wave < 8; wave++) {
      written += await putKeyed(writer, streamName, ['a', 'b', 'c', 'd'], wave * 25, 25);
      await sleep(500);
    }
    await waitFor(() => seen.size >= written, 30_000, `all ${written} records read`);
    await sleep(500);
    expectEachOnce(seen, written);
    expect(sim.fanOutStats().started - startedBefore).toBeGreaterThanOrEqual(4); // renewed, not one each
    expect(sim.stats().requests.GetRecords ?? 0).toBe(0);
    const lag = worker.metrics().shards.map((s) => s.millisBehindLatest);
    expect(lag.every((ms) => ms !== undefined)).toBe(true);
  });

  it('recovers from error frames, KMS errors, reset streams, GOAWAY, dropped connections, a stall and a refusal: nothing lost or repeated', async () => {
    const faults = [
      { kind: 'exception', exceptionType: 'InternalFailureException', message: 'injected' },
      { kind: 'exception', exceptionType: 'KMSThrottlingException', message: 'injected' },
      { kind: 'error', errorCode: 'ServiceUnavailable', message: 'injected' },
      { kind: 'reset', code: 2 },
      { kind: 'goaway', code: 2 },
      { kind: 'sessionError' },
      { kind: 'stall' },
      { kind: 'refuse', statusCode: 500, errorType: 'InternalFailureException', message: 'injected' },
    ] as const;
    const own = await startKinesisSimulator({
      shardLimits: false,
      // A short cooldown so that eight faults in a row do not take eight times 5 s.
      fanOut: { consumerActivationMs: 100, idleEventIntervalMs: 200, resubscribeCooldownMs: 200 },
      subscriptionFaults: {
        rules: faults.map((action, i) => ({ name: `${action.kind}-${i}`, times: 1, afterEvents: 2, action })),
      },
    });
    try {
      const streamName = uniqueName('efo-faults');
      own.createStream(streamName, 1);
      const put = own.createClient();
      const { seen, processor } = tally();
      const errors: ConsumerEvents['error'][] = [];
      const worker = consumer(
        streamName,
        {
          applicationName: uniqueName('app'),
          processor,
          retrieval: { mode: 'fan-out', consumerName: 'app', readTimeoutMs: 2_000 },
        },
        own,
      );
      worker.on('error', (e) => errors.push(e));
      await worker.start();
      let written = 0;
      const allFired = (): boolean =>
        faults.every(
          (action, i) => (own.subscriptionFaultCounters()[`${action.kind}-${i}`]?.fired ?? 0) === 1,
        );
      for (let wave = 0; !allFired(); wave++) {
        if (wave > 200)
          throw new Error(`faults not all fired: ${JSON.stringify(own.subscriptionFaultCounters())}`);
        written += await putKeyed(put, streamName, ['a', 'b'], wave * 5, 5);
        await sleep(200);
      }
      written += await putKeyed(put, streamName, ['a', 'b'], 10_000, 5);
      await waitFor(() => seen.size >= written, 30_000, `all ${written} records read`);
      await sleep(500);
      expectEachOnce(seen, written);
      const reported = errors.filter((e) => e.operation === 'subscribeToShard').map((e) => String(e.error));
      for (const name of [
        'InternalFailureException',
        'KMSThrottlingException',
        'ServiceUnavailable',
        'ReadTimeout',
      ])
        expect(reported.some((m) => m.includes(name))).toBe(true);
    } finally {
      await Promise.all(running.splice(0).map((c) => c.stop({ timeoutMs: 5_000 })));
      await own.stop();
    }
  });

  it('25 workers starting at once against an unregistered consumer name: one registration, all start', async () => {
    const streamName = uniqueName('efo-many');
    sim.createStream(streamName, 1);
    const applicationName = uniqueName('app');
    const workers = Array.from({ length: 25 }, (_, i) =>
      consumer(streamName, { applicationName, workerId: `w${i}`, processor: async () => {} }),
    );
    await Promise.all(workers.map((w) => w.start()));
    const listed = await writer.send(
      new ListStreamConsumersCommand({
        StreamARN: `arn:aws:kinesis:${sim.region}:000000000000:stream/${streamName}`,
      }),
    );
    expect(listed.Consumers?.map((c) => [c.ConsumerName, c.ConsumerStatus])).toEqual([
      [applicationName, 'ACTIVE'],
    ]);
  });

  it('takes a shard over while the previous owner subscription is still open (ResourceInUse, then 5 s)', async () => {
    // Subscriptions that last the service's 5 minutes here, so the old one is still open at the takeover.
    const own = await startKinesisSimulator({ shardLimits: false, fanOut: { consumerActivationMs: 100 } });
    const streamName = uniqueName('efo-take');
    own.createStream(streamName, 1);
    const applicationName = uniqueName('app');
    const streamARN = `arn:aws:kinesis:${own.region}:000000000000:stream/${streamName}`;
    const zombieClient = own.createHttp2Client();
    const registered = await zombieClient.send(
      new RegisterStreamConsumerCommand({ StreamARN: streamARN, ConsumerName: applicationName }),
    );
    const consumerArn = registered.Consumer?.ConsumerARN ?? '';
    await sleep(400); // ACTIVE
    // A previous owner that still reads the shard (it has not noticed that its lease is gone).
    const zombieAbort = new AbortController();
    const zombie = await zombieClient.send(
      new SubscribeToShardCommand({
        ConsumerARN: consumerArn,
        ShardId: 'shardId-000000000000',
        StartingPosition: { Type: 'TRIM_HORIZON' },
      }),
      { abortSignal: zombieAbort.signal },
    );
    const zombieEnd = (async () => {
      try {
        for await (const _ of zombie.EventStream ?? []) {
          /* reads until taken over */
        }
        return 'ended';
      } catch (error) {
        return (error as Error).name;
      }
    })();
    try {
      const written = await putKeyed(own.createClient(), streamName, ['k'], 0, 50);
      const { seen, processor } = tally();
      const errors: ConsumerEvents['error'][] = [];
      const worker = consumer(streamName, { applicationName, processor }, own);
      worker.on('error', (e) => errors.push(e));
      await worker.start();
      await waitFor(() => seen.size >= written, 30_000, 'read after the takeover');
      expectEachOnce(seen, written);
      expect(
        errors.some((e) => e.operation === 'subscribeToShard' && /ResourceInUse/.test(String(e.error))),
      ).toBe(true);
      expect(await zombieEnd).toBe('ResourceInUseException');
      await worker.stop();
    } finally {
      zombieAbort.abort();
      await own.stop();
    }
  });

  it('a slow processor stops the event stream: what was sent but not processed stays bounded', async () => {
    const streamName = uniqueName('efo-slow');
    sim.createStream(streamName, 1);
    const payload = 'x'.repeat(1_000);
    const total = 6_000; // about 6 MB
    for (let start = 0; start < total; start += 500) {
      await writer.send(
        new PutRecordsCommand({
          StreamName: streamName,
          Records: Array.from({ length: 500 }, (_, i) => ({
            PartitionKey: `k${start + i}`,
            Data: new TextEncoder().encode(`${start + i}:${payload}`),
          })),
        }),
      );
    }
    let gate: (() => void) | undefined;
    let open = false;
    let processedBytes = 0;
    const seen = new Set<string>();
    const worker = consumer(streamName, {
      applicationName: uniqueName('app'),
      maxPrefetchBatches: 2,
      maxPrefetchBytes: 256 * 1024,
      processor: async (records) => {
        if (!open) await new Promise<void>((resolve) => (gate = resolve));
        for (const record of records) {
          seen.add(text(record).split(':')[0] ?? '');
          processedBytes += record.data.byteLength;
        }
      },
    });
    await worker.start();
    await waitFor(() => gate !== undefined, 20_000, 'first batch handed to the processor');
    await sleep(2_000); // the processor is stuck; the subscription must not run ahead
    const sent = sim.subscriptions().reduce((n, s) => n + s.bytesSent, 0);
    // Bound: the prefetch queue (256 KiB), the batch at the processor, one event, HTTP/2 and socket windows.
    expect(sent).toBeLessThan(2.5 * 1024 * 1024);
    expect(processedBytes).toBe(0);
    open = true;
    gate?.();
    await waitFor(() => seen.size >= total, 60_000, 'everything read once the processor speeds up');
  });

  it('a poison record is dead-lettered and the shard carries on, as with polling', async () => {
    const streamName = uniqueName('efo-poison');
    sim.createStream(streamName, 1);
    const written = await putKeyed(writer, streamName, ['a'], 0, 300);
    const done = new Map<string, number>();
    const dead: string[] = [];
    const worker = consumer(streamName, {
      applicationName: uniqueName('app'),
      processor: async (records) => {
        for (const record of records) {
          if (text(record) === 'a:150') throw new RecordFailedError(record, new Error('cannot parse'));
          done.set(text(record), (done.get(text(record)) ?? 0) + 1);
        }
      },
      deadLetter: async (records) => {
        for (const record of records) dead.push(text(record));
      },
    });
    await worker.start();
    await waitFor(() => done.size >= written - 1, 30_000, 'all but the poison record');
    expect(dead).toEqual(['a:150']);
    expect([...done.values()].every((n) => n === 1)).toBe(true);
    expect(done.has('a:150')).toBe(false);
  });

  it('restarts inside an aggregate from a sub-sequence checkpoint', async () => {
    const streamName = uniqueName('efo-resume');
    sim.createStream(streamName, 1);
    const aggregator = new RecordAggregator({ emitSingleRecordRaw: false });
    for (let i = 0; i < 10; i++) aggregator.add({ partitionKey: `pk-${i}`, data: `a${i}` });
    const aggregate = aggregator.flush();
    if (!aggregate) throw new Error('no aggregate');
    await writer.send(
      new PutRecordCommand({
        StreamName: streamName,
        PartitionKey: aggregate.partitionKey,
        ExplicitHashKey: aggregate.explicitHashKey,
        Data: aggregate.data,
      }),
    );
    const applicationName = uniqueName('app');
    let checkpointed = false;
    const first = consumer(streamName, {
      applicationName,
      processor: {
        processRecords: async ({ records, checkpointer }) => {
          const fifth = records.find((r) => text(r) === 'a4');
          if (fifth && !checkpointed) {
            await checkpointer.checkpoint(fifth.sequenceNumber, fifth.subSequenceNumber);
            checkpointed = true;
          }
        },
        shardEnded: ({ checkpointer }) => checkpointer.checkpoint(),
      },
    });
    await first.start();
    await waitFor(() => checkpointed, 20_000, 'checkpoint at a4');
    await first.stop();
    await putKeyed(writer, streamName, ['b'], 0, 1);
    const { order, processor } = tally();
    await consumer(streamName, { applicationName, processor }).start();
    await waitFor(() => order.length >= 6, 20_000, 'resumed');
    await sleep(300);
    expect(order).toEqual(['a5', 'a6', 'a7', 'a8', 'a9', 'b:0']);
  });

  it('a split and then a merge while reading: parents before children, every record once, in order per key', async () => {
    const streamName = uniqueName('efo-split');
    sim.createStream(streamName, 1);
    const keys = Array.from({ length: 8 }, (_, i) => `key-${i}`);
    const { seen, order, processor } = tally();
    const worker = consumer(streamName, { applicationName: uniqueName('app'), processor });
    await worker.start();
    let written = await putKeyed(writer, streamName, keys, 0, 20);
    await sleep(300);
    const [left, right] = sim.splitShard(streamName, 'shardId-000000000000');
    written += await putKeyed(writer, streamName, keys, 20, 20);
    await sleep(300);
    sim.mergeShards(streamName, left, right);
    written += await putKeyed(writer, streamName, keys, 40, 20);
    await waitFor(() => seen.size >= written, 30_000, 'parent, children and grandchild read');
    expectEachOnce(seen, written);
    for (const key of keys) {
      const mine = order.filter((r) => r.startsWith(`${key}:`)).map((r) => Number(r.split(':')[1]));
      expect(mine).toEqual(Array.from({ length: 60 }, (_, i) => i));
    }
  });

  it('graceful handoff to a joining worker: the lease moves with no duplicates, despite the 5 s rule', async () => {
    const streamName = uniqueName('efo-handoff');
    sim.createStream(streamName, 2);
    const applicationName = uniqueName('app');
    const { seen, processor } = tally();
    const first = consumer(streamName, { applicationName, workerId: 'first', processor });
    await first.start();
    await waitFor(() => first.heldShardIds().length === 2, 20_000, 'first holds both');
    let written = await putKeyed(writer, streamName, ['a', 'b', 'c', 'd'], 0, 25);
    const second = consumer(streamName, { applicationName, workerId: 'second', processor });
    await second.start();
    for (let i = 1; i <= 6; i++) {
      written += await putKeyed(writer, streamName, ['a', 'b', 'c', 'd'], i * 25, 25);
      await sleep(300);
    }
    await waitFor(() => second.heldShardIds().length === 1, 30_000, 'one lease handed over');
    written += await putKeyed(writer, streamName, ['a', 'b', 'c', 'd'], 175, 25);
    await waitFor(() => seen.size >= written, 30_000, 'all read');
    await sleep(500);
    expectEachOnce(seen, written);
  });
});
