import { deaggregate } from '@shardline/aggregation';
import { seededRandom } from '@shardline/testkit';
import { describe, expect, it, vi } from 'vitest';
import {
  ExpiredError,
  ProducerClosedError,
  ProducerError,
  type PutManyResult,
  type PutResult,
  ServiceError,
  ValidationError,
} from '../src/index.js';
import { evenShards, FakeKinesis, serviceError } from './fakeKinesis.js';
import { fakeProducer as producer } from './fixtures.js';

const text = (i: number): string => `record-${i}`;

/** Every user record the fake stored, de-aggregated, in stored order (sequence, then sub-sequence). */
function stored(
  fake: FakeKinesis,
): Array<{ payload: string; shardId: string; sequenceNumber: string; sub: number }> {
  const out: Array<{ payload: string; shardId: string; sequenceNumber: string; sub: number }> = [];
  for (const entry of fake.stored) {
    const shard = fake.shards.find((s) => s.shardId === entry.shardId);
    const users = deaggregate(
      { Data: entry.data, PartitionKey: entry.partitionKey, SequenceNumber: entry.sequenceNumber },
      shard === undefined
        ? {}
        : { hashKeyRange: { startingHashKey: shard.start, endingHashKey: shard.end }, outOfRange: 'drop' },
    );
    for (const user of users) {
      out.push({
        payload: Buffer.from(user.data).toString('utf8'),
        shardId: entry.shardId,
        sequenceNumber: user.sequenceNumber,
        sub: user.subSequenceNumber,
      });
    }
  }
  return out.sort((a, b) =>
    a.sequenceNumber === b.sequenceNumber
      ? a.sub - b.sub
      : BigInt(a.sequenceNumber) < BigInt(b.sequenceNumber)
        ? -1
        : 1,
  );
}

/** Each successful result matches the one copy stored of its record. */
function expectStoredOnce(fake: FakeKinesis, outcome: PutManyResult, payload: (i: number) => string): void {
  const byPayload = new Map<string, ReturnType<typeof stored>>();
  for (const copy of stored(fake))
    byPayload.set(copy.payload, [...(byPayload.get(copy.payload) ?? []), copy]);
  outcome.results.forEach((result, i) => {
    const copies = byPayload.get(payload(i)) ?? [];
    if (result instanceof ProducerError) {
      expect(copies).toHaveLength(0);
      return;
    }
    expect(copies).toHaveLength(1);
    expect(copies[0]?.shardId).toBe(result.shardId);
    expect(copies[0]?.sequenceNumber).toBe(result.sequenceNumber);
    expect(copies[0]?.sub).toBe(result.subSequenceNumber ?? 0);
  });
}

/** Seeded entry faults (throttling, InternalFailure) and call faults (500, 503, a slow call cut by the timeout). */
function injectFaultMix(fake: FakeKinesis, seed: number): void {
  const random = seededRandom(seed);
  fake.entryFault = () => {
    const dice = random();
    return dice < 0.3
      ? 'ProvisionedThroughputExceededException'
      : dice < 0.35
        ? 'InternalFailure'
        : undefined;
  };
  // Calls 2 and 3 always fail (500, then 503), so the test never depends on the dice for them.
  fake.callFault = (call) => {
    const dice = call === 2 ? 0 : call === 3 ? 0.1 : random();
    if (dice < 0.08) return serviceError('InternalFailure', 500, 'server');
    if (dice < 0.16) return serviceError('ServiceUnavailable', 503, 'server');
    return undefined;
  };
}

describe('putMany and putEach (fake Kinesis)', () => {
  it('resolves once with every record stored and its shard and sequence number', async () => {
    const fake = new FakeKinesis(evenShards(3));
    const p = producer(fake);
    const outcome = await p.putMany(
      Array.from({ length: 500 }, (_, i) => ({ partitionKey: `k${i}`, data: text(i) })),
    );
    await p.close();
    expect(outcome.succeeded).toBe(500);
    expect(outcome.failed).toBe(0);
    expect(outcome.results).toHaveLength(500);
    expectStoredOnce(fake, outcome, text);
    expect(new Set(outcome.results.map((r) => (r as PutResult).shardId)).size).toBe(3);
    expect(p.metrics().UserRecordsPut).toBe(500);
  });

  it('fails invalid records alone, at their index, and stores the others', async () => {
    const fake = new FakeKinesis();
    const p = producer(fake, { maxRecordBytes: 1_000 });
    const records = Array.from({ length: 40 }, (_, i) => ({ partitionKey: `k${i}`, data: text(i) }));
    records[3] = { partitionKey: '', data: text(3) };
    records[17] = { partitionKey: 'k17', data: 'x'.repeat(2_000) };
    records[30] = { partitionKey: 'k30', data: 42 as unknown as string };
    const outcome = await p.putMany(records);
    await p.close();
    expect(outcome.failed).toBe(3);
    expect(outcome.succeeded).toBe(37);
    for (const index of [3, 17, 30]) {
      expect(outcome.results[index]).toBeInstanceOf(ValidationError);
      expect((outcome.results[index] as ValidationError).code).toBe('INVALID_RECORD');
    }
    expect(stored(fake)).toHaveLength(37);
    expectStoredOnce(fake, outcome, text);
  });

  it('stores every record exactly once under throttling, InternalFailure, 500s and 503s (seeded)', async () => {
    const fake = new FakeKinesis(evenShards(2));
    injectFaultMix(fake, 2_027);
    const p = producer(fake, { aggregationMaxBytes: 2_000, maxInFlightRequests: 4 });
    const outcome = await p.putMany(
      Array.from({ length: 1_000 }, (_, i) => ({ partitionKey: `k${i % 37}`, data: text(i) })),
    );
    await p.close();
    expect(outcome.succeeded).toBe(1_000);
    expectStoredOnce(fake, outcome, text);
    const retried = outcome.results.filter((r) => (r as PutResult).attempts.length > 1);
    expect(retried.length).toBeGreaterThan(0);
    const errors = p.metrics().ErrorsByCode;
    expect(errors.ProvisionedThroughputExceededException).toBeGreaterThan(0);
    expect(errors.InternalFailure).toBeGreaterThan(0);
    expect(errors.ServiceUnavailable).toBeGreaterThan(0);
    expect(errors.Http500 ?? errors.InternalFailure).toBeGreaterThan(0);
  });

  it('retries a call cut by requestTimeoutMs and stores its records once', async () => {
    const fake = new FakeKinesis(evenShards(1));
    fake.latencyMs = 5;
    let slow = 2;
    fake.callFault = () => undefined;
    const original = fake.send.bind(fake);
    // The first two calls hang past the timeout (the fake honours the abort signal).
    fake.send = async (command, options) => {
      if (slow > 0 && command?.constructor?.name === 'PutRecordsCommand') {
        slow -= 1;
        fake.latencyMs = 500;
        try {
          return await original(command, options);
        } finally {
          fake.latencyMs = 5;
        }
      }
      return original(command, options);
    };
    const p = producer(fake, { requestTimeoutMs: 100, maxRequestRetries: 0 });
    const outcome = await p.putMany(
      Array.from({ length: 50 }, (_, i) => ({ partitionKey: `k${i}`, data: text(i) })),
    );
    await p.close();
    expect(outcome.succeeded).toBe(50);
    expect(p.metrics().ErrorsByCode.AbortError).toBeGreaterThan(0);
    expectStoredOnce(fake, outcome, text);
  });

  it('keeps per-key order in ordered mode under the fault mix', async () => {
    const fake = new FakeKinesis(evenShards(2));
    injectFaultMix(fake, 7);
    const p = producer(fake, { ordered: true, aggregationMaxBytes: 600, maxInFlightRequests: 4 });
    const payload = (i: number) => `${i % 5}:${i}`;
    const outcome = await p.putMany(
      Array.from({ length: 400 }, (_, i) => ({ partitionKey: `key-${i % 5}`, data: payload(i) })),
    );
    await p.close();
    expect(outcome.succeeded).toBe(400);
    expectStoredOnce(fake, outcome, payload);
    const last = new Map<string, number>();
    for (const copy of stored(fake)) {
      const [key, index] = copy.payload.split(':');
      expect(Number(index)).toBeGreaterThan(last.get(key ?? '') ?? -1);
      last.set(key ?? '', Number(index));
    }
    expect(outcome.results.some((r) => (r as PutResult).attempts.length > 1)).toBe(true);
  });

  it('fails records with a typed error per record: non-retriable answers and expiry', async () => {
    const fake = new FakeKinesis(evenShards(1));
    fake.entryFault = (entry) =>
      entry.PartitionKey === 'denied'
        ? 'AccessDeniedException'
        : entry.PartitionKey === 'hot'
          ? 'ProvisionedThroughputExceededException'
          : undefined;
    const p = producer(fake, { aggregation: false, recordTtlMs: 200 });
    const outcome = await p.putMany([
      { partitionKey: 'ok', data: 'a' },
      { partitionKey: 'denied', data: 'b' },
      { partitionKey: 'hot', data: 'c' },
      { partitionKey: 'ok', data: 'd' },
    ]);
    await p.close();
    expect(outcome).toMatchObject({ succeeded: 2, failed: 2 });
    expect(outcome.results[1]).toBeInstanceOf(ServiceError);
    expect((outcome.results[1] as ServiceError).serviceCode).toBe('AccessDeniedException');
    expect(outcome.results[2]).toBeInstanceOf(ExpiredError);
    expect((outcome.results[2] as ExpiredError).attempts.length).toBeGreaterThan(1);
  });

  it('waits for room: a batch far larger than the buffer completes within its bounds', async () => {
    const fake = new FakeKinesis(evenShards(2));
    fake.latencyMs = 2;
    const p = producer(fake, {
      maxBufferedRecords: 64,
      maxBufferedBytes: 4_096,
      maxRecordBytes: 1_024,
      maxInFlightRequests: 2,
    });
    let maxPending = 0;
    let maxBytes = 0;
    const sample = (): void => {
      const m = p.metrics();
      maxPending = Math.max(maxPending, m.UserRecordsPending);
      maxBytes = Math.max(maxBytes, m.BufferedBytes);
    };
    p.on('request', sample);
    const timer = setInterval(sample, 1);
    const outcome = await p.putMany(
      Array.from({ length: 5_000 }, (_, i) => ({ partitionKey: `k${i % 50}`, data: text(i) })),
    );
    clearInterval(timer);
    await p.close();
    expect(outcome.succeeded).toBe(5_000);
    expect(maxPending).toBeGreaterThan(0);
    expect(maxPending).toBeLessThanOrEqual(64);
    expect(maxBytes).toBeLessThanOrEqual(4_096);
    expect(p.metrics().UserRecordsReceived).toBe(5_000);
    expectStoredOnce(fake, outcome, text);
  });

  it('fails the records not yet buffered with PRODUCER_CLOSED when closed while waiting for room', async () => {
    const fake = new FakeKinesis(evenShards(1));
    fake.latencyMs = 20;
    const p = producer(fake, { maxBufferedRecords: 10 });
    const pending = p.putMany(
      Array.from({ length: 100 }, (_, i) => ({ partitionKey: `k${i}`, data: text(i) })),
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
    await p.close();
    const outcome = await pending;
    expect(outcome.succeeded + outcome.failed).toBe(100);
    expect(outcome.succeeded).toBeGreaterThanOrEqual(10);
    expect(outcome.failed).toBeGreaterThan(0);
    for (const result of outcome.results) {
      if (result instanceof ProducerError) expect(result).toBeInstanceOf(ProducerClosedError);
    }
    expectStoredOnce(fake, outcome, text);
    expect(await p.putMany([{ partitionKey: 'late', data: 'x' }])).toMatchObject({ succeeded: 0, failed: 1 });
  });

  it('putEach calls back once per record, resolves on buffering, and survives a throwing callback', async () => {
    const fake = new FakeKinesis(evenShards(2));
    const p = producer(fake, { maxBufferedTimeMs: 10_000 });
    const seen = new Map<number, ProducerError | PutResult>();
    const warning = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const records = Array.from({ length: 30 }, (_, i) => ({
      partitionKey: i === 4 ? '' : `k${i}`,
      data: text(i),
    }));
    await p.putEach(records, (error, result, index) => {
      expect(seen.has(index)).toBe(false);
      seen.set(index, error ?? (result as PutResult));
      if (index === 7) throw new Error('callback bug');
    });
    // Buffered, not sent (the linger is 10 s): only the invalid record has settled.
    expect([...seen.keys()]).toEqual([4]);
    expect(await p.flush()).toEqual({ succeeded: 29, failed: 0 });
    await p.close();
    expect(seen.size).toBe(30);
    expect(seen.get(4)).toBeInstanceOf(ValidationError);
    expect((seen.get(0) as PutResult).sequenceNumber).toBeDefined();
    const messages = warning.mock.calls.map((call) => String(call[0]));
    warning.mockRestore();
    expect(messages.some((m) => m.includes('putEach') && m.includes('callback bug'))).toBe(true);
  });

  it('resolves an empty batch at once, and rejects what is not an array instead of hanging', async () => {
    const p = producer(new FakeKinesis());
    expect(await p.putMany([])).toEqual({ succeeded: 0, failed: 0, results: [] });
    await expect(p.putMany({ length: 2 } as never)).rejects.toBeInstanceOf(ValidationError);
    await expect(p.putEach([], undefined as never)).rejects.toBeInstanceOf(ValidationError);
    await p.close();
  });
});
