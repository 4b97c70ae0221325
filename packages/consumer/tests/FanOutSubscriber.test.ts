import { afterEach, describe, expect, it } from 'vitest';
import type { FetchError } from '../src/errors.js';
import { FanOutSubscriber, type FanOutSubscriberOptions } from '../src/retrieval/FanOutSubscriber.js';
import type { FetchedBatch, StartingPosition } from '../src/retrieval/ShardRecordSource.js';
import { awsError, type FakeSubscription, fakeFanOutKinesis, record } from './fixtures/fakeFanOut.js';
import { waitFor } from './helpers.js';

const running: FanOutSubscriber[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

function subscriber(
  onSubscribe: (subscription: FakeSubscription, index: number) => void,
  options: Partial<FanOutSubscriberOptions> & { start?: StartingPosition } = {},
) {
  const fake = fakeFanOutKinesis(onSubscribe);
  const errors: FetchError[] = [];
  const source = new FanOutSubscriber({
    kinesis: fake.client,
    consumerArn: 'arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/c:1',
    shardId: 'shardId-000000000000',
    start: { type: 'TRIM_HORIZON' },
    maxPrefetchBatches: 3,
    maxPrefetchBytes: 1_000_000,
    readTimeoutMs: 5_000,
    minSubscribeIntervalMs: 10,
    resourceInUseWaitMs: 10,
    backoffBaseMs: 1,
    backoffMaxMs: 10,
    now: () => performance.now(),
    onError: (error) => errors.push(error),
    ...options,
  });
  running.push(source);
  source.start();
  return { source, subscriptions: fake.subscriptions, errors };
}

async function take(source: FanOutSubscriber, count: number): Promise<FetchedBatch[]> {
  const out: FetchedBatch[] = [];
  while (out.length < count) {
    const batch = await source.next();
    if (!batch) break;
    out.push(batch);
  }
  return out;
}

const sequences = (batches: FetchedBatch[]) => batches.flatMap((b) => b.records.map((r) => r.SequenceNumber));

describe('FanOutSubscriber', () => {
  it('renews an ended subscription after the last continuation sequence number, without loss or duplicates', async () => {
    const { source, subscriptions } = subscriber((s, i) => {
      if (i === 0) s.push({ Records: [record('1'), record('2')], ContinuationSequenceNumber: '2' }).end();
      else if (i === 1) s.push({ Records: [], ContinuationSequenceNumber: '3', MillisBehindLatest: 7 }).end();
      else s.push({ Records: [record('4')], ContinuationSequenceNumber: '4', MillisBehindLatest: 0 });
    });
    const batches = await take(source, 2);
    expect(sequences(batches)).toEqual(['1', '2', '4']);
    expect(subscriptions.map((s) => s.input.StartingPosition)).toEqual([
      { Type: 'TRIM_HORIZON' },
      { Type: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: '2' },
      { Type: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: '3' }, // an idle event moves the position too
    ]);
    expect(source.millisBehindLatest).toBe(0);
    expect(subscriptions.slice(0, 2).every((s) => s.signal?.aborted)).toBe(true); // closed, not left open
  });

  it('starts at the checkpointed record (AT_SEQUENCE_NUMBER) or a timestamp, as given', async () => {
    const at = subscriber((s) => s.push({ ContinuationSequenceNumber: '9' }), {
      start: { type: 'AT_SEQUENCE_NUMBER', sequenceNumber: '42' },
    });
    const timestamp = new Date('2026-01-01T00:00:00Z');
    const ts = subscriber((s) => s.push({ ContinuationSequenceNumber: '9' }), {
      start: { type: 'AT_TIMESTAMP', timestamp },
    });
    await waitFor(() => at.subscriptions.length > 0 && ts.subscriptions.length > 0, 5_000, 'subscribed');
    expect(at.subscriptions[0]?.input.StartingPosition).toEqual({
      Type: 'AT_SEQUENCE_NUMBER',
      SequenceNumber: '42',
    });
    expect(ts.subscriptions[0]?.input.StartingPosition).toEqual({
      Type: 'AT_TIMESTAMP',
      Timestamp: timestamp,
    });
  });

  it('ends at the event without continuation sequence number, handing on its child shards', async () => {
    const children = [{ ShardId: 'shardId-000000000001', ParentShards: ['shardId-000000000000'] }];
    const { source, subscriptions } = subscriber((s) =>
      s.push({ Records: [record('1')], ContinuationSequenceNumber: '1' }).push({
        Records: [record('2')],
        ContinuationSequenceNumber: undefined,
        ChildShards: children as never,
      }),
    );
    const batches = await take(source, 3);
    expect(sequences(batches)).toEqual(['1', '2']);
    expect(batches[1]).toMatchObject({ shardEnded: true, childShards: children });
    expect(await source.next()).toBeUndefined();
    expect(subscriptions).toHaveLength(1);
  });

  it('merges the events that queue while the processor is busy into one batch, in order, and reads on', async () => {
    let subscription: FakeSubscription | undefined;
    const { source } = subscriber(
      (s) => {
        subscription = s;
        for (let i = 1; i <= 20; i++)
          s.push({
            Records: [record(String(i), 100)],
            ContinuationSequenceNumber: String(i),
            MillisBehindLatest: i,
          });
        s.push({ Records: [record('21', 100)], ChildShards: [] }); // shard end: stays its own batch
      },
      { maxPrefetchBatches: 3 },
    );
    await waitFor(() => (subscription?.pulls ?? 0) >= 21, 5_000, 'every event read');
    const batches = await take(source, 2);
    expect(batches.map((b) => b.records.length)).toEqual([20, 1]);
    expect(batches.map((b) => b.shardEnded)).toEqual([false, true]);
    expect(batches[0]?.bytes).toBe(2_000);
    expect(batches[0]?.millisBehindLatest).toBe(20); // the latest event's
    expect(sequences(batches)).toEqual(Array.from({ length: 21 }, (_, i) => String(i + 1)));
  });

  it('bounds the queue by bytes as well', async () => {
    let subscription: FakeSubscription | undefined;
    subscriber(
      (s) => {
        subscription = s;
        for (let i = 1; i <= 10; i++)
          s.push({ Records: [record(String(i), 600)], ContinuationSequenceNumber: String(i) });
      },
      { maxPrefetchBatches: 100, maxPrefetchBytes: 1_000 },
    );
    await waitFor(() => (subscription?.pulls ?? 0) >= 2, 5_000, 'prefetch filled');
    await new Promise((r) => setTimeout(r, 100));
    expect(subscription?.pulls).toBe(2); // 2 events (1,200 bytes) reach the bound; then it waits
  });

  it('replaces a stalled subscription after readTimeoutMs, reporting a retriable ReadTimeout', async () => {
    const { source, subscriptions, errors } = subscriber(
      (s, i) => {
        if (i === 0)
          s.push({ Records: [record('1')], ContinuationSequenceNumber: '1' }); // then silence
        else s.push({ Records: [record('2')], ContinuationSequenceNumber: '2' });
      },
      { readTimeoutMs: 1_000 },
    );
    expect(sequences(await take(source, 2))).toEqual(['1', '2']);
    expect(errors[0]).toMatchObject({ code: 'FETCH_FAILED', retriable: true });
    expect((errors[0]?.cause as Error | undefined)?.name).toBe('ReadTimeout');
    expect(subscriptions[0]?.signal?.aborted).toBe(true);
    expect(subscriptions[1]?.input.StartingPosition).toEqual({
      Type: 'AFTER_SEQUENCE_NUMBER',
      SequenceNumber: '1',
    });
  });

  it('retries stream resets and error frames from the last continuation; waits out ResourceInUse', async () => {
    const reset = Object.assign(new Error('Stream closed with error code NGHTTP2_INTERNAL_ERROR'), {
      code: 'ERR_HTTP2_STREAM_ERROR',
    });
    const { source, subscriptions, errors } = subscriber(
      (s, i) => {
        if (i === 0) s.push({ Records: [record('1')], ContinuationSequenceNumber: '1' }).fail(reset);
        else if (i === 1) throw awsError('ResourceInUseException');
        else if (i === 2)
          s.pushItem({ InternalFailureException: awsError('InternalFailureException', 'server') } as never);
        else s.push({ Records: [record('2')], ContinuationSequenceNumber: '2' });
      },
      { resourceInUseWaitMs: 300 },
    );
    expect(sequences(await take(source, 2))).toEqual(['1', '2']);
    expect(errors.map((e) => [e.awsErrorName ?? (e.cause as { code?: string }).code, e.retriable])).toEqual([
      ['ERR_HTTP2_STREAM_ERROR', true],
      ['ResourceInUseException', true],
      ['InternalFailureException', true],
    ]);
    // The 5-second rule (scaled down here): no subscribe again until resourceInUseWaitMs has passed.
    const [, refused, next] = subscriptions;
    expect((next?.openedAt ?? 0) - (refused?.openedAt ?? 0)).toBeGreaterThanOrEqual(300);
    expect(subscriptions.slice(1).map((s) => s.input.StartingPosition?.SequenceNumber)).toEqual([
      '1',
      '1',
      '1',
    ]);
  });

  it('reports permission and KMS errors as not retriable and keeps trying at the slowest pace', async () => {
    const { subscriptions, errors } = subscriber((s, i) => {
      if (i === 0) throw awsError('AccessDeniedException');
      if (i === 1) s.fail(awsError('KMSAccessDeniedException'));
      else s.push({ ContinuationSequenceNumber: '5' });
    });
    await waitFor(() => subscriptions.length >= 3, 5_000, 'third subscription');
    expect(errors.map((e) => [e.awsErrorName, e.retriable])).toEqual([
      ['AccessDeniedException', false],
      ['KMSAccessDeniedException', false],
    ]);
  });

  it('reports a subscription that ends before its first event, and backs off', async () => {
    const { source, subscriptions, errors } = subscriber((s, i) => {
      if (i < 2) s.end();
      else s.push({ Records: [record('1')], ContinuationSequenceNumber: '1' });
    });
    expect(sequences(await take(source, 1))).toEqual(['1']);
    expect(errors).toHaveLength(2);
    expect(String(errors[0])).toContain('ended before its first event');
    expect(subscriptions.map((s) => s.input.StartingPosition?.Type)).toEqual([
      'TRIM_HORIZON',
      'TRIM_HORIZON',
      'TRIM_HORIZON',
    ]);
  });

  it('subscribes at most once per minSubscribeIntervalMs, also when subscriptions end at once', async () => {
    const { subscriptions } = subscriber((s) => s.push({ ContinuationSequenceNumber: '1' }).end(), {
      minSubscribeIntervalMs: 200,
    });
    await waitFor(() => subscriptions.length >= 4, 10_000, 'four subscriptions');
    for (let i = 1; i < 4; i++) {
      const gap = (subscriptions[i]?.openedAt ?? 0) - (subscriptions[i - 1]?.openedAt ?? 0);
      expect(gap).toBeGreaterThanOrEqual(199);
    }
  });

  it('stop() closes the open subscription and next() resolves undefined', async () => {
    const { source, subscriptions } = subscriber((s) => s.push({ ContinuationSequenceNumber: '1' }));
    await waitFor(() => subscriptions.length === 1 && (subscriptions[0]?.pulls ?? 0) >= 2, 5_000, 'reading');
    const pending = source.next();
    await source.stop();
    expect(await pending).toBeUndefined();
    expect(subscriptions[0]?.signal?.aborted).toBe(true);
    expect(subscriptions).toHaveLength(1);
  });

  it('stop() ends a subscribe call that never answers', async () => {
    const fake = fakeFanOutKinesis(() => {});
    const hanging = { send: () => new Promise(() => {}) } as unknown as typeof fake.client;
    const source = new FanOutSubscriber({
      kinesis: hanging,
      consumerArn: 'arn',
      shardId: 's',
      start: { type: 'LATEST' },
      maxPrefetchBatches: 1,
      maxPrefetchBytes: 1,
      readTimeoutMs: 60_000,
      minSubscribeIntervalMs: 1,
      resourceInUseWaitMs: 1,
      backoffBaseMs: 1,
      backoffMaxMs: 1,
      now: () => performance.now(),
    });
    source.start();
    await new Promise((r) => setTimeout(r, 50));
    await source.stop();
    expect(await source.next()).toBeUndefined();
  });
});
