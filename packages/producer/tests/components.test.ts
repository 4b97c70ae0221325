import { deaggregate } from '@shardline/aggregation';
import { describe, expect, it } from 'vitest';
import { RateLimiter, ShardLimiter } from '../src/collection/RateLimiter.js';
import { RequestBuilder } from '../src/collection/RequestBuilder.js';
import { classifyError } from '../src/errors.js';
import { resolveOptions } from '../src/options.js';
import { fullJitterDelay, GrowingBackoff } from '../src/retry.js';
import { ShardBuffer } from '../src/routing/ShardBuffer.js';
import { ShardMap, ShardMapError } from '../src/routing/ShardMap.js';
import type { PendingRecord } from '../src/settlement/PendingRecord.js';
import { evenShards, FakeKinesis, MAX_KEY, serviceError } from './fakeKinesis.js';
import { pendingRecord } from './fixtures.js';

function record(partitionKey: string, data: string, extra: Partial<PendingRecord> = {}): PendingRecord {
  return pendingRecord(partitionKey, Buffer.from(data), extra);
}

describe('backoff', () => {
  it('full jitter stays within [0, min(cap, base * 2^n))', () => {
    const policy = { baseDelayMs: 100, maxDelayMs: 5_000 };
    expect(fullJitterDelay(0, policy, () => 0.999)).toBe(99);
    expect(fullJitterDelay(3, policy, () => 0.5)).toBe(400);
    expect(fullJitterDelay(50, policy, () => 0.999)).toBe(4_995);
    expect(fullJitterDelay(2, policy, () => 0)).toBe(0);
  });

  it('growing backoff multiplies by 1.5 up to the cap and resets on success', () => {
    const backoff = new GrowingBackoff(1_000, 3_000);
    expect([backoff.fail(), backoff.fail(), backoff.fail(), backoff.fail()]).toEqual([
      1_000, 1_500, 2_250, 3_000,
    ]);
    backoff.succeed();
    expect(backoff.fail()).toBe(1_000);
  });
});

describe('options', () => {
  it('fills in the documented defaults', () => {
    const fake = new FakeKinesis();
    const options = resolveOptions({ client: fake.client, streamName: 's' });
    expect(options).toMatchObject({
      aggregation: true,
      aggregationMaxBytes: 51_200,
      collectionMaxCount: 500,
      collectionMaxBytes: 5_242_880,
      maxBufferedTimeMs: 100,
      recordTtlMs: 30_000,
      maxRecordBytes: 1_048_576,
      maxBufferedBytes: 33_554_432,
      maxBufferedRecords: 100_000,
      maxInFlightRequests: 16,
      requestTimeoutMs: 6_000,
      retryBaseDelayMs: 100,
      retryMaxDelayMs: 5_000,
      maxRequestRetries: 3,
      rateLimitPercent: 100,
      ordered: false,
      reshardResend: 'outOfRange',
      failIfThrottled: false,
      shardMapRefreshMinDelayMs: 1_000,
      shardMapRefreshMaxDelayMs: 30_000,
      shardMapRefreshIntervalMs: 60_000,
      logger: undefined,
    });
  });
});

describe('classifyError', () => {
  it('retries throttling, 5xx, timeouts and resets; not access or missing streams', () => {
    expect(classifyError(serviceError('InternalFailure', 500, 'server')).retriable).toBe(true);
    expect(classifyError(serviceError('ServiceUnavailable', 503, 'server')).retriable).toBe(true);
    expect(classifyError(serviceError('LimitExceededException', 400, 'client')).retriable).toBe(true);
    expect(classifyError(Object.assign(new Error('t'), { name: 'TimeoutError' })).retriable).toBe(true);
    expect(classifyError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })).code).toBe(
      'ECONNRESET',
    );
    // Seen against an HTTP/2 endpoint: a protocol error surfaces as a deserialization failure with this code.
    const http2 = Object.assign(new Error('ERR_HTTP2_ERROR: Protocol error\n  Deserialization error'), {
      code: 'ERR_HTTP2_ERROR',
      $metadata: {},
    });
    expect(classifyError(http2)).toMatchObject({ code: 'ERR_HTTP2_ERROR', retriable: true });
    expect(
      classifyError(Object.assign(new Error('closed'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })).retriable,
    ).toBe(true);
    expect(classifyError(serviceError('AccessDeniedException', 400, 'client')).retriable).toBe(false);
    expect(classifyError(serviceError('ResourceNotFoundException', 400, 'client')).retriable).toBe(false);
    expect(classifyError(serviceError('KMSAccessDeniedException', 400, 'client')).retriable).toBe(false);
  });

  it('names configuration problems no retry can fix, keeping the error as cause', () => {
    const noCredentials = Object.assign(new Error('Could not load credentials from any providers'), {
      name: 'CredentialsProviderError',
    });
    expect(classifyError(noCredentials)).toMatchObject({
      code: 'CredentialsProviderError',
      retriable: false,
      configuration: true,
      cause: noCredentials,
    });
    expect(classifyError(new Error('Region is missing'))).toMatchObject({
      code: 'MissingRegion',
      retriable: false,
      configuration: true,
    });
    const invalidUrl = Object.assign(new TypeError('Invalid URL'), { code: 'ERR_INVALID_URL' });
    expect(classifyError(invalidUrl)).toMatchObject({ code: 'InvalidEndpoint', configuration: true });
    // An HTTP/2 protocol error before any answer: the endpoint does not speak HTTP/2.
    const protocol = Object.assign(new Error('Protocol error'), { code: 'ERR_HTTP2_ERROR', $metadata: {} });
    expect(classifyError(protocol, { firstContact: true })).toMatchObject({
      code: 'ProtocolMismatch',
      retriable: false,
      configuration: true,
    });
    expect(classifyError(protocol, { firstContact: true }).message).toMatch(/NodeHttpHandler/);
    // The SDK's own classification: an HTTP/2 stream cancelled because the connection was refused.
    const cancelled = Object.assign(new Error('The pending stream has been canceled'), {
      code: 'ERR_HTTP2_STREAM_CANCEL',
      cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
    });
    expect(classifyError(cancelled).retriable).toBe(true);
    expect(classifyError(cancelled).configuration).toBeUndefined();
    expect(classifyError(serviceError('TooManyRequestsException', 429, 'client')).retriable).toBe(true);
  });
});

describe('ShardMap', () => {
  const options = (fake: FakeKinesis) => ({
    client: fake.client,
    streamName: 's',
    streamARN: undefined,
    minDelayMs: 1,
    maxDelayMs: 5,
    requestTimeoutMs: 1_000,
  });

  it('follows pagination, sorts ranges and finds the shard of a hash key', async () => {
    const fake = new FakeKinesis(evenShards(5).reverse());
    const map = new ShardMap(options(fake));
    await map.refresh(Date.now() + 1_000);
    expect(fake.listCalls).toBe(3);
    expect(map.shards.map((s) => s.shardId)).toEqual(evenShards(5).map((s) => s.shardId));
    for (const shard of evenShards(5)) {
      expect(map.lookup(shard.start)?.shardId).toBe(shard.shardId);
      expect(map.lookup(shard.end)?.shardId).toBe(shard.shardId);
    }
    expect(map.lookup(MAX_KEY)?.shardId).toBe('shardId-000000000004');
    expect(map.version).toBe(1);
  });

  it('routes by open shards and keeps the ranges of closed ones', async () => {
    const fake = new FakeKinesis(evenShards(2));
    fake.split('shardId-000000000000', ['shardId-000000000002', 'shardId-000000000003']);
    const map = new ShardMap(options(fake));
    await map.refresh(Date.now() + 1_000, 'all');
    expect(map.shards.map((s) => s.shardId)).toEqual([
      'shardId-000000000002',
      'shardId-000000000003',
      'shardId-000000000001',
    ]);
    expect(map.lookup(0n)?.shardId).toBe('shardId-000000000002');
    const parent = evenShards(2)[0];
    expect(map.rangeOf('shardId-000000000000')).toEqual({
      shardId: 'shardId-000000000000',
      startingHashKey: parent?.start,
      endingHashKey: parent?.end,
    });
    expect(map.rangeOf('shardId-000000000003')?.endingHashKey).toBe(parent?.end);
    expect(map.rangeOf('shardId-000000000009')).toBeUndefined();
  });

  it('lists only the open shards by default (AT_LATEST), remembering those open at the listing before', async () => {
    const fake = new FakeKinesis(evenShards(2));
    const map = new ShardMap(options(fake));
    await map.refresh(Date.now() + 1_000);
    fake.split('shardId-000000000000', ['shardId-000000000002', 'shardId-000000000003']);
    fake.split('shardId-000000000002', ['shardId-000000000004', 'shardId-000000000005']);
    const calls = fake.listCalls;
    await map.refresh(Date.now() + 1_000);
    // Four open shards in pages of two: two calls, none spent on the three closed shards.
    expect(fake.listCalls - calls).toBe(2);
    expect(map.shards.map((s) => s.shardId)).toEqual([
      'shardId-000000000004',
      'shardId-000000000005',
      'shardId-000000000003',
      'shardId-000000000001',
    ]);
    // Open at the listing before: its range still judges records stored on it since.
    expect(map.rangeOf('shardId-000000000000')?.endingHashKey).toBe(evenShards(2)[0]?.end);
    // Opened and closed between the two listings: only a listing of every shard knows it.
    expect(map.rangeOf('shardId-000000000002')).toBeUndefined();
    await map.refresh(Date.now() + 1_000, 'all');
    expect(map.rangeOf('shardId-000000000002')?.startingHashKey).toBe(0n);
  });

  it('retries a listing with a gap, then gives up at the deadline', async () => {
    const fake = new FakeKinesis(evenShards(3).filter((_, i) => i !== 1));
    const map = new ShardMap(options(fake));
    const error = await map.refresh(Date.now() + 30).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ShardMapError);
    expect((error as ShardMapError).serviceCode).toBe('IncompleteShardMap');
    expect(fake.listCalls).toBeGreaterThan(1);
    expect(map.ready).toBe(false);
  });

  it('fails at once on a non-retriable error and coalesces concurrent refreshes', async () => {
    const fake = new FakeKinesis();
    fake.listFault = () => serviceError('AccessDeniedException', 400, 'client');
    const map = new ShardMap(options(fake));
    const [a, b] = await Promise.allSettled([
      map.refresh(Date.now() + 5_000),
      map.refresh(Date.now() + 5_000),
    ]);
    expect(a.status).toBe('rejected');
    expect(b.status).toBe('rejected');
    expect(fake.listCalls).toBe(1);
  });
});

describe('RateLimiter', () => {
  it("paces a second's allowance: a fifth within 100 ms, the whole within a second", () => {
    const limiter = new ShardLimiter(1_000, 1_000_000, 0);
    let taken = 0;
    while (limiter.tryTake(1, 10_000, 0)) taken += 1;
    // 20% of 1 MB per 100 ms.
    expect(taken).toBe(20);
    expect(limiter.waitMs(1, 10_000, 0)).toBe(101);
    for (let t = 101; t < 1_000; t += 101) while (limiter.tryTake(1, 10_000, t)) taken += 1;
    expect(taken).toBe(100);
    expect(limiter.tryTake(1, 10_000, 950)).toBeUndefined();
  });

  it('counts a write from its answer, not from when it was sent, and forgets one given back', () => {
    const limiter = new ShardLimiter(1_000, 100_000, 0);
    const takes = [];
    for (let t = 0; t < 500; t += 100) takes.push(limiter.tryTake(1, 20_000, t));
    expect(takes.every((take) => take !== undefined)).toBe(true);
    expect(limiter.tryTake(1, 20_000, 600)).toBeUndefined();
    // Answered late: they count for a second from the answer.
    for (const take of takes) if (take) limiter.answered(take, 700);
    expect(limiter.tryTake(1, 20_000, 1_500)).toBeUndefined();
    expect(limiter.waitMs(1, 20_000, 1_500)).toBe(201);
    expect(limiter.tryTake(1, 20_000, 1_701)).toBeDefined();
    const unused = limiter.tryTake(1, 20_000, 1_801);
    expect(unused).toBeDefined();
    if (unused) limiter.cancel(unused);
    expect(limiter.tryTake(1, 20_000, 1_901)).toBeDefined();
  });

  it('hands back the unused part of a reservation', () => {
    const limiter = new ShardLimiter(1_000, 100_000, 0);
    const take = limiter.tryTake(1, 20_000, 0);
    expect(take).toBeDefined();
    expect(limiter.tryTake(1, 1, 0)).toBeUndefined();
    if (take) limiter.refund(take, 19_000);
    expect(limiter.tryTake(1, 19_000, 0)).toBeDefined();
  });

  it('lets a record larger than the whole limit through an empty window, then waits for the average', () => {
    const limiter = new ShardLimiter(1_000, 100_000, 0);
    const big = limiter.tryTake(1, 500_000, 0);
    expect(big).toBeDefined();
    expect(limiter.tryTake(1, 10, 0)).toBeUndefined();
    if (big) limiter.answered(big, 10);
    // 500 kB against 100 kB/s: the shard's next five seconds are spent.
    expect(limiter.waitMs(1, 10, 10)).toBe(5_001);
    expect(limiter.tryTake(1, 10, 5_000)).toBeUndefined();
    expect(limiter.tryTake(1, 10, 5_011)).toBeDefined();
  });

  it('slows down (x0.8) on throttling at most once per 100 ms and recovers additively', () => {
    const limiter = new ShardLimiter(1_000, 1_000_000, 0);
    limiter.onThrottle(0);
    limiter.onThrottle(10);
    expect(limiter.ratio).toBeCloseTo(0.8);
    limiter.onThrottle(200);
    expect(limiter.ratio).toBeCloseTo(0.64);
    limiter.onSuccess(300);
    expect(limiter.ratio).toBeCloseTo(0.74);
    limiter.onSuccess(10_000);
    expect(limiter.ratio).toBe(1);
  });

  it('keeps one limiter per shard and forgets closed shards', () => {
    const limiters = new RateLimiter(50);
    const a = limiters.get('a', 0);
    expect(limiters.get('a', 0)).toBe(a);
    limiters.get('b', 0);
    limiters.retain(new Set(['b']));
    expect(Object.keys(limiters.ratios())).toEqual(['b']);
  });
});

describe('ShardBuffer', () => {
  it('merges retries back into put order and removes expired records', () => {
    const buffer = new ShardBuffer('s');
    const d = record('k', 'd', { deadline: 5 });
    const [a, b, c] = [record('k', 'a'), record('k', 'b'), record('k', 'c')];
    buffer.push(d);
    buffer.push(c as PendingRecord);
    buffer.insert(b as PendingRecord);
    buffer.insert(a as PendingRecord);
    expect(buffer.removeExpired(10)).toEqual([d]);
    const seen: string[] = [];
    buffer.drain((r) => {
      seen.push(Buffer.from(r.data).toString());
      return r === b ? 'skip' : 'take';
    }, 100);
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(buffer.length).toBe(1);
    expect(buffer.bytes).toBe((b as PendingRecord).bytes);
    expect(buffer.removeAll()).toEqual([b]);
  });

  it('stops at stop and keeps the rest', () => {
    const buffer = new ShardBuffer('s');
    for (let i = 0; i < 5; i++) buffer.push(record('k', String(i)));
    let visits = 0;
    buffer.drain(() => (visits++ < 2 ? 'take' : 'stop'), 100);
    expect(buffer.length).toBe(3);
    expect(buffer.oldestFresh()?.data.toString()).toBe('2');
    expect(buffer.hasDueRetry(0)).toBe(false);
    buffer.insert(
      record('k', 'r', { retry: { notBefore: 50, lastAttemptEnd: 0, retries: 0, lastError: undefined } }),
    );
    expect(buffer.hasDueRetry(10)).toBe(false);
    expect(buffer.nextRetryAfter(10)).toBe(50);
    expect(buffer.hasDueRetry(50)).toBe(true);
  });
});

describe('RequestBuilder', () => {
  const base = {
    maxCount: 500,
    maxBytes: 5 * 1024 * 1024,
    aggregation: true,
    aggregationMaxBytes: 1_000,
    aggregationMaxRecords: 1_000_000,
    maxRecordBytes: 1_048_576,
    ordered: false,
  };
  const context = (busy: Map<string, number> = new Map()) => ({
    now: 1,
    limiter: new ShardLimiter(1_000_000, 1_000_000_000, 0),
    busyKeys: busy,
    reject: () => undefined,
  });

  it('packs records into aggregates within the size bound, preserving order for sub-sequence numbers', () => {
    const buffer = new ShardBuffer('s');
    const records = Array.from({ length: 100 }, (_, i) =>
      record(`k${i % 7}`, `payload-${i}-${'x'.repeat(20)}`),
    );
    for (const r of records) buffer.push(r);
    const builder = new RequestBuilder(base);
    expect(builder.fillFrom(buffer, context()).stop).toBe('drained');
    expect(builder.entries.length).toBeGreaterThan(1);
    const flat: string[] = [];
    for (const entry of builder.entries) {
      expect(entry.bytes).toBeLessThanOrEqual(1_000);
      const users = deaggregate({ Data: entry.data, PartitionKey: entry.partitionKey, SequenceNumber: '1' });
      expect(users.map((u) => Buffer.from(u.data).toString())).toEqual(
        entry.records.map((r) => Buffer.from(r.data).toString()),
      );
      flat.push(...users.map((u) => Buffer.from(u.data).toString()));
    }
    expect(flat).toEqual(records.map((r) => Buffer.from(r.data).toString()));
    expect(builder.bytes).toBe(builder.entries.reduce((sum, e) => sum + e.bytes, 0));
  });

  it('stops at the entry count and byte bounds of one request', () => {
    const buffer = new ShardBuffer('s');
    for (let i = 0; i < 50; i++) buffer.push(record(`k${i}`, 'y'.repeat(100)));
    const builder = new RequestBuilder({ ...base, aggregation: false, maxCount: 20 });
    expect(builder.fillFrom(buffer, context()).stop).toBe('requestFull');
    expect(builder.entries).toHaveLength(20);
    const bytesBound = new RequestBuilder({ ...base, aggregation: false, maxBytes: 1_050 });
    bytesBound.fillFrom(buffer, context());
    expect(bytesBound.entries).toHaveLength(10);
  });

  it('stops when the shard limiter runs dry and says how long to wait', () => {
    const buffer = new ShardBuffer('s');
    for (let i = 0; i < 50; i++) buffer.push(record(`k${i}`, 'z'.repeat(100)));
    const builder = new RequestBuilder({ ...base, aggregation: false });
    // 5 records/s: 5 records now, the next ones when those have been answered and a second has passed.
    const result = builder.fillFrom(buffer, { ...context(), limiter: new ShardLimiter(5, 1_000_000, 1) });
    expect(result.stop).toBe('rateLimited');
    expect(builder.entries).toHaveLength(5);
    expect(result.waitMs).toBeGreaterThan(0);
  });

  it('ordered: a key never spans two entries of a request, and busy keys wait', () => {
    const buffer = new ShardBuffer('s');
    for (let i = 0; i < 60; i++) buffer.push(record(i % 2 === 0 ? 'even' : 'odd', `${i}-${'w'.repeat(40)}`));
    buffer.push(record('busy', 'b'));
    const builder = new RequestBuilder({ ...base, ordered: true });
    builder.fillFrom(buffer, context(new Map([['busy', 1]])));
    const keysPerEntry = builder.entries.map((e) => new Set(e.records.map((r) => r.partitionKey)));
    for (const key of ['even', 'odd']) {
      expect(keysPerEntry.filter((keys) => keys.has(key)).length).toBeLessThanOrEqual(1);
    }
    expect(builder.entries.some((e) => e.records.some((r) => r.partitionKey === 'busy'))).toBe(false);
    // What was left keeps its order for the next request.
    expect(buffer.length).toBe(61 - builder.userRecords);
  });
});
