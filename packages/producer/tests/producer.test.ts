import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { deaggregate, partitionKeyHash } from '@shardline/aggregation';
import { seededRandom } from '@shardline/testkit';
import { describe, expect, it } from 'vitest';
import {
  BufferFullError,
  ConfigurationError,
  ExpiredError,
  KinesisProducer,
  ProducerClosedError,
  type PutResult,
  ServiceError,
  ValidationError,
} from '../src/index.js';
import { evenShards, FakeKinesis, serviceError } from './fakeKinesis.js';
import { fakeProducer as producer } from './fixtures.js';

const text = (i: number): string => `record-${i}`;

/** Every user record stored by the fake, de-aggregated, keyed by payload, with where it was stored. */
function storedUserRecords(
  fake: FakeKinesis,
): Map<string, Array<{ shardId: string; sequenceNumber: string; sub: number }>> {
  const out = new Map<string, Array<{ shardId: string; sequenceNumber: string; sub: number }>>();
  for (const entry of fake.stored) {
    const shard = fake.shards.find((s) => s.shardId === entry.shardId);
    const users = deaggregate(
      { Data: entry.data, PartitionKey: entry.partitionKey, SequenceNumber: entry.sequenceNumber },
      shard === undefined
        ? {}
        : { hashKeyRange: { startingHashKey: shard.start, endingHashKey: shard.end }, outOfRange: 'drop' },
    );
    for (const user of users) {
      const key = Buffer.from(user.data).toString('utf8');
      const list = out.get(key) ?? [];
      list.push({ shardId: entry.shardId, sequenceNumber: user.sequenceNumber, sub: user.subSequenceNumber });
      out.set(key, list);
    }
  }
  return out;
}

describe('KinesisProducer (fake Kinesis)', () => {
  it('stores every record once, aggregated per shard, and reports where', async () => {
    const fake = new FakeKinesis(evenShards(3));
    const p = producer(fake);
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) => p.put({ partitionKey: `k${i}`, data: text(i) })),
    );
    await p.close();
    const stored = storedUserRecords(fake);
    expect(stored.size).toBe(300);
    results.forEach((result, i) => {
      const copies = stored.get(text(i)) ?? [];
      expect(copies).toHaveLength(1);
      expect(copies[0]?.shardId).toBe(result.shardId);
      expect(copies[0]?.sequenceNumber).toBe(result.sequenceNumber);
      expect(copies[0]?.sub).toBe(result.subSequenceNumber ?? 0);
      expect(result.attempts.at(-1)?.success).toBe(true);
    });
    // Aggregation packed records: far fewer Kinesis records than user records.
    expect(fake.stored.length).toBeLessThan(30);
    const metrics = p.metrics();
    expect(metrics.UserRecordsPut).toBe(300);
    expect(metrics.KinesisRecordsPut).toBe(fake.stored.length);
    expect(metrics.UserRecordsPending).toBe(0);
    expect(metrics.ShardMapRefreshes).toBe(1);
    expect(fake.listCalls).toBe(2); // 3 shards, pages of 2
  });

  it('sends plain records when aggregation is off', async () => {
    const fake = new FakeKinesis();
    const p = producer(fake, { aggregation: false });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => p.put({ partitionKey: `k${i}`, data: text(i) })),
    );
    await p.close();
    expect(fake.stored).toHaveLength(20);
    for (const result of results) expect(result.subSequenceNumber).toBeUndefined();
  });

  it('respects 500 entries and the byte bound per request', async () => {
    const fake = new FakeKinesis(evenShards(1));
    const p = producer(fake, {
      aggregation: false,
      collectionMaxBytes: 50_000,
      maxRecordBytes: 10_000,
      rateLimitPercent: 10_000,
    });
    await Promise.all(
      Array.from({ length: 1_200 }, (_, i) => p.put({ partitionKey: `k${i}`, data: 'x'.repeat(20) })),
    );
    await p.close();
    for (const request of fake.requests) {
      expect(request.length).toBeLessThanOrEqual(500);
      const bytes = request.reduce(
        (sum, e) => sum + (e.Data?.length ?? 0) + Buffer.byteLength(e.PartitionKey ?? ''),
        0,
      );
      expect(bytes).toBeLessThanOrEqual(50_000);
    }
    expect(fake.stored).toHaveLength(1_200);
  });

  it('rejects invalid records at once, touching nothing else', async () => {
    const fake = new FakeKinesis();
    const p = producer(fake, { maxRecordBytes: 2_000 });
    const good = p.put({ partitionKey: 'ok', data: 'fine' });
    const bad = [
      p.put({ partitionKey: '', data: 'x' }),
      p.put({ partitionKey: 'k'.repeat(257), data: 'x' }),
      p.put({ partitionKey: 'k', data: 'x'.repeat(2_000) }),
      p.put({ partitionKey: 'k', data: 'x', explicitHashKey: '-1' }),
      p.put({ partitionKey: 'k', data: 'x', explicitHashKey: (1n << 128n).toString() }),
      p.put({ partitionKey: 'k', data: 'x', explicitHashKey: '007' }),
      p.put({ partitionKey: 'k', data: 42 as unknown as string }),
    ];
    for (const rejected of bad) {
      const error = await rejected.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).code).toBe('INVALID_RECORD');
      expect((error as ValidationError).retriable).toBe(false);
    }
    // Keys are counted in UTF-16 units, as the KPL does: 128 astral characters fit, 129 do not.
    await expect(p.put({ partitionKey: '😀'.repeat(128), data: 'x' })).resolves.toMatchObject({
      attempts: [{ success: true }],
    });
    await expect(p.put({ partitionKey: '😀'.repeat(129), data: 'x' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(good).resolves.toMatchObject({ attempts: [{ success: true }] });
    await p.close();
    expect(p.metrics().UserRecordsReceived).toBe(2);
  });

  it('validates options with ConfigurationError', () => {
    const fake = new FakeKinesis();
    expect(() => new KinesisProducer({ client: fake.client })).toThrow(ConfigurationError);
    expect(() => new KinesisProducer({ client: fake.client, streamName: 's', streamARN: 'arn:x' })).toThrow(
      ConfigurationError,
    );
    expect(() => producer(fake, { collectionMaxCount: 501 })).toThrow(/collectionMaxCount/);
    expect(() => producer(fake, { recordTtlMs: 1.5 })).toThrow(ConfigurationError);
    expect(() => producer(fake, { maxBufferedBytes: 10 })).toThrow(/maxBufferedBytes/);
    expect(() => producer(fake, { retryMaxDelayMs: 1 })).toThrow(/retryMaxDelayMs/);
  });

  it('retries only the failed entries, with backoff, until they succeed', async () => {
    const fake = new FakeKinesis(evenShards(2));
    const failures = new Map<string, number>();
    const random = seededRandom(2_026);
    fake.entryFault = (entry) => {
      const key = `${entry.PartitionKey}:${entry.ExplicitHashKey}:${Buffer.from(entry.Data ?? [])
        .toString('hex')
        .slice(0, 64)}`;
      const seen = failures.get(key) ?? 0;
      // The first entry always fails once, so the test never depends on the dice to retry something.
      if (seen < 2 && (failures.size === 0 || random() < 0.5)) {
        failures.set(key, seen + 1);
        return random() < 0.7 ? 'ProvisionedThroughputExceededException' : 'InternalFailure';
      }
      return undefined;
    };
    const p = producer(fake, { aggregationMaxBytes: 2_000 });
    const results = await Promise.all(
      Array.from({ length: 400 }, (_, i) => p.put({ partitionKey: `k${i % 37}`, data: text(i) })),
    );
    await p.close();
    const stored = storedUserRecords(fake);
    expect(stored.size).toBe(400);
    for (const [, copies] of stored) expect(copies).toHaveLength(1);
    const retried = results.filter((r) => r.attempts.length > 1);
    expect(retried.length).toBeGreaterThan(0);
    for (const result of retried) {
      expect(result.attempts.slice(0, -1).every((a) => !a.success && a.errorCode !== undefined)).toBe(true);
    }
    const metrics = p.metrics();
    expect(metrics.AllErrors).toBeGreaterThan(0);
    expect(metrics.RetriesPerRecord.max).toBeGreaterThan(0);
  });

  it("reports each attempt's delay from the end of the one before (or from put)", async () => {
    const fake = new FakeKinesis(evenShards(1));
    fake.latencyMs = 20;
    fake.entryFault = (_entry, _index, call) => (call <= 2 ? 'InternalFailure' : undefined);
    const p = producer(fake, {
      aggregation: false,
      maxBufferedTimeMs: 10,
      retryBaseDelayMs: 30,
      retryMaxDelayMs: 30,
    });
    const before = Date.now();
    const result = await p.put({ partitionKey: 'k', data: 'x' });
    const elapsed = Date.now() - before;
    await p.close();
    expect(result.attempts.map((a) => [a.success, a.errorCode])).toEqual([
      [false, 'InternalFailure'],
      [false, 'InternalFailure'],
      [true, undefined],
    ]);
    for (const attempt of result.attempts) {
      expect(attempt.delayMs).toBeGreaterThanOrEqual(0);
      expect(attempt.durationMs).toBeGreaterThanOrEqual(19);
    }
    // Delays and durations tile the time from put to the last answer: counting an attempt's wait from put
    // instead of from the previous attempt's end would count time twice and exceed the time that passed.
    const tiled = result.attempts.reduce((sum, a) => sum + a.delayMs + a.durationMs, 0);
    expect(tiled).toBeLessThanOrEqual(elapsed);
  });

  it('keeps per-key order in ordered mode under throttling and 500s', async () => {
    const fake = new FakeKinesis(evenShards(2));
    const random = seededRandom(7);
    fake.entryFault = () =>
      random() < 0.3
        ? 'ProvisionedThroughputExceededException'
        : random() < 0.05
          ? 'InternalFailure'
          : undefined;
    fake.callFault = () => (random() < 0.05 ? serviceError('InternalFailure', 500, 'server') : undefined);
    const p = producer(fake, { ordered: true, aggregationMaxBytes: 600, maxInFlightRequests: 4 });
    const puts: Promise<PutResult>[] = [];
    for (let i = 0; i < 300; i++) puts.push(p.put({ partitionKey: `key-${i % 5}`, data: `${i % 5}:${i}` }));
    await Promise.all(puts);
    await p.close();
    // Read back in stored order (sequence order per shard), de-aggregated.
    const lastSeen = new Map<string, number>();
    const stored = storedUserRecords(fake);
    expect(stored.size).toBe(300);
    const flat: Array<{ key: string; index: number; seq: bigint; sub: number }> = [];
    for (const [payload, copies] of stored) {
      const [key, index] = payload.split(':');
      for (const copy of copies)
        flat.push({ key: key ?? '', index: Number(index), seq: BigInt(copy.sequenceNumber), sub: copy.sub });
    }
    flat.sort((a, b) => (a.seq === b.seq ? a.sub - b.sub : a.seq < b.seq ? -1 : 1));
    for (const { key, index } of flat) {
      expect(index).toBeGreaterThan(lastSeen.get(key) ?? -1);
      lastSeen.set(key, index);
    }
  });

  it('fails fast on non-retriable service errors', async () => {
    const fake = new FakeKinesis();
    fake.callFault = () => serviceError('AccessDeniedException', 400, 'client');
    const p = producer(fake);
    const error = await p.put({ partitionKey: 'k', data: 'x' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServiceError);
    expect((error as ServiceError).serviceCode).toBe('AccessDeniedException');
    expect((error as ServiceError).retriable).toBe(false);
    expect((error as ServiceError).attempts).toHaveLength(1);
    expect(fake.putCalls).toBe(1);
    await p.close();
  });

  it('fails waiting records when the stream does not exist', async () => {
    const fake = new FakeKinesis();
    fake.listFault = () => serviceError('ResourceNotFoundException', 400, 'client');
    const p = producer(fake);
    const error = await p.put({ partitionKey: 'k', data: 'x' }).catch((e: unknown) => e);
    expect((error as ServiceError).serviceCode).toBe('ResourceNotFoundException');
    expect(fake.putCalls).toBe(0);
    await p.close();
  });

  it('retries a throttled ListShards with backoff', async () => {
    const fake = new FakeKinesis();
    fake.listFault = (call) =>
      call <= 2 ? serviceError('LimitExceededException', 400, 'client') : undefined;
    const p = producer(fake);
    await expect(p.put({ partitionKey: 'k', data: 'x' })).resolves.toMatchObject({
      shardId: expect.any(String),
    });
    await p.close();
  });

  it('expires records that cannot be stored within recordTtlMs', async () => {
    const fake = new FakeKinesis();
    fake.entryFault = () => 'ProvisionedThroughputExceededException';
    const p = producer(fake, { recordTtlMs: 150 });
    const started = Date.now();
    const errors = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        p.put({ partitionKey: `k${i}`, data: 'x' }).catch((e: unknown) => e),
      ),
    );
    for (const error of errors) {
      expect(error).toBeInstanceOf(ExpiredError);
      expect((error as ExpiredError).code).toBe('EXPIRED');
      expect((error as ExpiredError).attempts.length).toBeGreaterThan(0);
      expect(
        (error as ExpiredError).attempts.every(
          (a) => a.errorCode === 'ProvisionedThroughputExceededException',
        ),
      ).toBe(true);
    }
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(p.metrics().UserRecordExpired).toBe(5);
    expect((await p.close()).failed).toBe(0); // all settled before close
  });

  it('fails throttled records at once with failIfThrottled', async () => {
    const fake = new FakeKinesis();
    fake.entryFault = () => 'ProvisionedThroughputExceededException';
    const p = producer(fake, { failIfThrottled: true });
    const error = await p.put({ partitionKey: 'k', data: 'x' }).catch((e: unknown) => e);
    expect((error as ServiceError).serviceCode).toBe('ProvisionedThroughputExceededException');
    await p.close();
  });

  it('retries whole requests after 5xx and timeouts, and counts SDK attempts', async () => {
    const fake = new FakeKinesis();
    fake.callFault = (call) => (call === 1 ? serviceError('ServiceUnavailable', 503, 'server') : undefined);
    fake.latencyMs = 0;
    const p = producer(fake, { requestTimeoutMs: 100 });
    const result = await p.put({ partitionKey: 'k', data: 'x' });
    expect(result.attempts.map((a) => a.success)).toEqual([false, true]);
    expect(result.attempts[0]?.errorCode).toBe('ServiceUnavailable');
    fake.latencyMs = 300; // longer than requestTimeoutMs: aborted, retried, then the fake is fast again
    const slow = p.put({ partitionKey: 'k', data: 'y' });
    setTimeout(() => {
      fake.latencyMs = 0;
    }, 150);
    const later = await slow;
    expect(later.attempts[0]?.errorCode).toBe('AbortError');
    expect(later.attempts.at(-1)?.success).toBe(true);
    await p.close();
  });

  it('bounds the buffer and lets callers wait for capacity', async () => {
    const fake = new FakeKinesis();
    fake.latencyMs = 20;
    const p = producer(fake, { maxBufferedRecords: 10 });
    const puts = Array.from({ length: 10 }, (_, i) => p.put({ partitionKey: `k${i}`, data: 'x' }));
    const refused = await p.put({ partitionKey: 'over', data: 'x' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BufferFullError);
    expect((refused as BufferFullError).retriable).toBe(true);
    expect(p.hasCapacity()).toBe(false);
    let drained = false;
    p.once('drain', () => {
      drained = true;
    });
    await p.waitForCapacity();
    expect(p.hasCapacity()).toBe(true);
    expect(drained).toBe(true);
    await Promise.all(puts);
    await p.close();
  });

  it('keeps memory within bounds when Kinesis is slower than the caller (writable)', async () => {
    const fake = new FakeKinesis();
    fake.latencyMs = 10;
    const p = producer(fake, { maxBufferedRecords: 50, maxBufferedBytes: 1_048_576, maxInFlightRequests: 1 });
    let maxPending = 0;
    p.on('request', () => {
      maxPending = Math.max(maxPending, p.metrics().UserRecordsPending);
    });
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < 500; i++) yield { partitionKey: `k${i % 20}`, data: text(i) };
      })(),
    );
    await pipeline(source, p.writable());
    expect(p.metrics().UserRecordsPut).toBe(500);
    expect(maxPending).toBeLessThanOrEqual(50);
    expect(storedUserRecords(fake).size).toBe(500);
    await p.close();
  });

  it('errors the writable on a failed record, or reports it to onRecordError', async () => {
    const fake = new FakeKinesis();
    const p = producer(fake);
    const bad = Readable.from([
      { partitionKey: 'ok', data: 'a' },
      { partitionKey: '', data: 'b' },
      { partitionKey: 'ok', data: 'c' },
    ]);
    await expect(pipeline(bad, p.writable())).rejects.toBeInstanceOf(ValidationError);
    const seen: Error[] = [];
    const again = Readable.from([
      { partitionKey: '', data: 'b' },
      { partitionKey: 'ok', data: 'c' },
    ]);
    await pipeline(again, p.writable({ onRecordError: (error) => seen.push(error) }));
    expect(seen).toHaveLength(1);
    await p.close();
  });

  it('flush settles everything put before it; close refuses new records and is idempotent', async () => {
    const fake = new FakeKinesis();
    const p = producer(fake, { maxBufferedTimeMs: 10_000 });
    const puts = Array.from({ length: 10 }, (_, i) => p.put({ partitionKey: `k${i}`, data: 'x' }));
    const settled: number[] = [];
    for (const [i, put] of puts.entries()) void put.then(() => settled.push(i));
    const flushed = await p.flush();
    expect(flushed).toEqual({ succeeded: 10, failed: 0 });
    expect(settled).toHaveLength(10);
    expect(await p.flush()).toEqual({ succeeded: 0, failed: 0 });
    const last = p.put({ partitionKey: 'k', data: 'late' });
    const first = p.close();
    const second = p.close();
    expect(second).toBe(first);
    expect(await first).toEqual({ succeeded: 1, failed: 0 });
    await expect(last).resolves.toMatchObject({ attempts: [{ success: true }] });
    await expect(p.put({ partitionKey: 'k', data: 'x' })).rejects.toBeInstanceOf(ProducerClosedError);
    expect(p.isClosed).toBe(true);
  });

  it('detects a reshard and re-sends records stored outside their shard', async () => {
    const fake = new FakeKinesis(evenShards(1));
    const p = producer(fake, { maxBufferedTimeMs: 5 });
    const refreshes: string[] = [];
    p.on('shardMapRefreshed', ({ reason }) => refreshes.push(reason));
    await p.put({ partitionKey: 'warm-up', data: 'x' });
    fake.split('shardId-000000000000', ['shardId-000000000001', 'shardId-000000000002']);
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => p.put({ partitionKey: `k${i}`, data: text(i) })),
    );
    await p.close();
    expect(refreshes).toEqual(['initial', 'wrongShard']);
    // Aggregates built from the stale map held records of both children: some were sent again.
    expect(p.metrics().ErrorsByCode.WrongShard).toBeGreaterThan(0);
    const stored = storedUserRecords(fake);
    results.forEach((result, i) => {
      const shard = fake.shards.find((s) => s.shardId === result.shardId);
      expect(shard?.open).toBe(true);
      const copies = stored.get(text(i)) ?? [];
      // Exactly one copy inside its owner's range (range-filtered read), and it is the reported one.
      expect(copies).toHaveLength(1);
      expect(copies[0]?.shardId).toBe(result.shardId);
      expect(copies[0]?.sequenceNumber).toBe(result.sequenceNumber);
    });
  });

  it('judges a stored record by the range of the shard that stored it, even after that shard split again', async () => {
    const fake = new FakeKinesis(evenShards(1));
    const p = producer(fake, { maxBufferedTimeMs: 5 });
    await p.put({ partitionKey: 'warm-up', data: 'x' });
    fake.split('shardId-000000000000', ['shardId-000000000001', 'shardId-000000000002']);
    // Shard 1 splits again before the refresh that the wrong-shard answers start can list the stream.
    fake.listFault = (call) => {
      if (call === 2) fake.split('shardId-000000000001', ['shardId-000000000003', 'shardId-000000000004']);
      return undefined;
    };
    // The aggregate goes where its first record's hash key points: make that shard 1 (the lower half).
    const keys = Array.from({ length: 200 }, (_, i) => `k${i}`);
    const first = keys.findIndex((key) => partitionKeyHash(key) < 1n << 127n);
    keys.unshift(...keys.splice(first, 1));
    const results = await Promise.all(keys.map((partitionKey, i) => p.put({ partitionKey, data: text(i) })));
    await p.close();
    expect(fake.listCalls).toBeGreaterThanOrEqual(2);
    const stored = storedUserRecords(fake);
    results.forEach((result, i) => {
      // Exactly one copy inside the range of the shard that holds it (range-filtered read): shard 1's
      // records were not sent again to its children.
      const copies = stored.get(text(i)) ?? [];
      expect(copies).toHaveLength(1);
      expect(copies[0]?.shardId).toBe(result.shardId);
      expect(copies[0]?.sequenceNumber).toBe(result.sequenceNumber);
    });
    expect(results.filter((r) => r.shardId === 'shardId-000000000001').length).toBeGreaterThan(0);
  });

  it('rate-limits each shard and backs off when it throttles', async () => {
    const fake = new FakeKinesis(evenShards(1));
    fake.entryFault = (_entry, _index, call) =>
      call <= 3 ? 'ProvisionedThroughputExceededException' : undefined;
    const p = producer(fake, { aggregation: false });
    const throttled: number[] = [];
    p.on('throttled', ({ rateLimit }) => throttled.push(rateLimit));
    await Promise.all(Array.from({ length: 50 }, (_, i) => p.put({ partitionKey: `k${i}`, data: 'x' })));
    await p.close();
    expect(throttled.length).toBeGreaterThan(0);
    expect(throttled[0]).toBeLessThan(1);
    expect(p.metrics().ThrottlesByShard['shardId-000000000000']).toBeGreaterThan(0);
  });

  it('warns when the client retries on its own, and not otherwise', async () => {
    const quiet = producer(new FakeKinesis());
    const retrying = new FakeKinesis();
    retrying.retriesOnItsOwn(3);
    const loud = producer(retrying);
    const warnings: string[] = [];
    quiet.on('warning', ({ message }) => warnings.push(`quiet: ${message}`));
    loud.on('warning', ({ message }) => warnings.push(`loud: ${message}`));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^loud: .*maxAttempts 3/);
    await Promise.all([quiet.close(), loud.close()]);
  });

  it('lets a capacity wait be aborted, and releases waiters on close', async () => {
    const fake = new FakeKinesis();
    fake.latencyMs = 50;
    const p = producer(fake, { maxBufferedRecords: 1 });
    const first = p.put({ partitionKey: 'k', data: 'x' });
    const controller = new AbortController();
    const aborted = p.waitForCapacity(0, controller.signal);
    controller.abort(new Error('gave up'));
    await expect(aborted).rejects.toThrow('gave up');
    const released = p.waitForCapacity();
    const closing = p.close();
    await expect(released).resolves.toBeUndefined();
    await expect(p.put({ partitionKey: 'k', data: 'y' })).rejects.toBeInstanceOf(ProducerClosedError);
    await first;
    expect(await closing).toEqual({ succeeded: 1, failed: 0 });
  });

  it('reshardResend wholeAggregate: exactly once for a KCL-style reader that drops mixed aggregates', async () => {
    const fake = new FakeKinesis(evenShards(1));
    const p = producer(fake, { reshardResend: 'wholeAggregate' });
    await p.put({ partitionKey: 'warm-up', data: 'x' });
    fake.split('shardId-000000000000', ['shardId-000000000001', 'shardId-000000000002']);
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => p.put({ partitionKey: `k${i}`, data: text(i) })),
    );
    await p.close();
    expect(p.metrics().ErrorsByCode.WrongShard).toBeGreaterThan(0);
    // KCL 2.x: an aggregate with any member outside the shard's range is dropped whole.
    const kept = new Map<string, string[]>();
    for (const entry of fake.stored) {
      const shard = fake.shards.find((s) => s.shardId === entry.shardId);
      const users = deaggregate({
        Data: entry.data,
        PartitionKey: entry.partitionKey,
        SequenceNumber: entry.sequenceNumber,
      });
      const key = (u: (typeof users)[number]) =>
        u.explicitHashKey ? BigInt(u.explicitHashKey) : partitionKeyHash(u.partitionKey);
      if (users.some((u) => shard === undefined || key(u) < shard.start || key(u) > shard.end)) continue;
      for (const u of users) {
        const payload = Buffer.from(u.data).toString('utf8');
        kept.set(payload, [...(kept.get(payload) ?? []), entry.shardId]);
      }
    }
    results.forEach((result, i) => {
      expect(kept.get(text(i))).toEqual([result.shardId]);
    });
  });
});
