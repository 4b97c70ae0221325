// Large records (streams that opt into up to 10 MiB), option extremes, and internal errors that must never
// escape a timer. Runs on the testkit simulator: kinesis-local does not take records above 1 MiB.
import { deaggregate } from '@shardline/aggregation';
import { type KinesisSimulator, startKinesisSimulator } from '@shardline/testkit';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { RequestBuilder } from '../src/collection/RequestBuilder.js';
import {
  ConfigurationError,
  KinesisProducer,
  ProducerError,
  type ProducerOptions,
  ServiceError,
  ValidationError,
} from '../src/index.js';

const KiB = 1024;
const MiB = 1024 * KiB;

let sim: KinesisSimulator;
let streams = 0;

beforeAll(async () => {
  sim = await startKinesisSimulator({
    shardLimits: false,
    log: { mode: 'entries', keepData: true, maxEntries: 20_000 },
  });
});
afterAll(() => sim.stop());

function newStream(shardCount: number, maxRecordSizeInKiB?: number): string {
  streams += 1;
  const name = `large-${streams}`;
  sim.createStream(name, shardCount, maxRecordSizeInKiB === undefined ? {} : { maxRecordSizeInKiB });
  return name;
}

function producer(streamName: string, options: Partial<ProducerOptions> = {}): KinesisProducer {
  return new KinesisProducer({
    client: sim.createClient({ maxAttempts: 1 }),
    streamName,
    maxBufferedTimeMs: 20,
    retryBaseDelayMs: 10,
    retryMaxDelayMs: 200,
    ...options,
  });
}

/** `bytes` of data plus partition key, filled with a byte derived from `seed`. */
function record(partitionKey: string, bytes: number, seed: number) {
  return { partitionKey, data: Buffer.alloc(bytes - Buffer.byteLength(partitionKey), seed % 251) };
}

/** Every user record the simulator stored for `streamName`, by partition key (deaggregated). */
function stored(streamName: string): Map<string, Buffer[]> {
  const out = new Map<string, Buffer[]>();
  for (const entry of sim.accepted()) {
    if (entry.streamName !== streamName || entry.data === undefined) continue;
    for (const user of deaggregate({ PartitionKey: entry.partitionKey, Data: entry.data })) {
      const list = out.get(user.partitionKey) ?? [];
      list.push(Buffer.from(user.data));
      out.set(user.partitionKey, list);
    }
  }
  return out;
}

describe('large records on a stream that allows 10 MiB', () => {
  it('stores 1 KiB, 1 MiB, 5 MiB, 6 MiB and 10 MiB records mixed with small ones; none blocks another', async () => {
    const streamName = newStream(2, 10_240);
    // A TTL far below what a stuck record would need: a record blocked behind a large one would expire.
    const p = producer(streamName, { recordTtlMs: 15_000, rateLimitPercent: 10_000 });
    const sizes = [KiB, MiB, 5 * MiB, 6 * MiB, 10 * MiB];
    const puts: Array<{ key: string; bytes: number; seed: number; promise: Promise<unknown> }> = [];
    let seed = 0;
    for (const [i, size] of sizes.entries()) {
      // Same key as the large record (same shard, right behind it), and another key.
      for (const key of [`big-${i}`, `small-${i}-a`, `big-${i}`, `small-${i}-b`]) {
        const bytes = key === `big-${i}` && !puts.some((put) => put.key === key) ? size : 100 + i;
        seed += 1;
        puts.push({ key, bytes, seed, promise: p.put(record(key, bytes, seed)) });
      }
    }
    const started = Date.now();
    const settledAt: number[] = [];
    const results = await Promise.allSettled(
      puts.map((put) => put.promise.finally(() => settledAt.push(Date.now() - started))),
    );
    expect(results.map((r) => r.status)).toEqual(puts.map(() => 'fulfilled'));
    expect(Math.max(...settledAt)).toBeLessThan(10_000);
    const byKey = stored(streamName);
    for (const put of puts) {
      const data = byKey.get(put.key) ?? [];
      const expected = put.bytes - Buffer.byteLength(put.key);
      expect(data.some((d) => d.length === expected && (expected === 0 || d[0] === put.seed % 251))).toBe(
        true,
      );
    }
    // The large ones travelled as plain records, one per request.
    const raw = sim
      .accepted()
      .filter((e) => e.streamName === streamName && (e.data?.length ?? 0) >= MiB - 10);
    expect(raw.map((e) => e.data?.length).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual([
      MiB - 5,
      5 * MiB - 5,
      6 * MiB - 5,
      10 * MiB - 5,
    ]);
    await p.close();
    expect(sim.stats().requests.DescribeStreamSummary).toBeGreaterThan(0);
  });

  it('sends a record above collectionMaxBytes alone instead of letting it expire', async () => {
    const streamName = newStream(1, 10_240);
    const p = producer(streamName, {
      collectionMaxBytes: MiB,
      recordTtlMs: 10_000,
      rateLimitPercent: 10_000,
    });
    const results = await Promise.all([
      p.put(record('a', 100, 1)),
      p.put(record('b', 6 * MiB, 2)),
      p.put(record('c', 100, 3)),
    ]);
    expect(results.map((r) => r.shardId)).toEqual([
      'shardId-000000000000',
      'shardId-000000000000',
      'shardId-000000000000',
    ]);
    await p.close();
  });

  it('with maxRecordBytes: 10 MiB (the documented maximum) runs and skips DescribeStreamSummary', async () => {
    const streamName = newStream(1, 10_240);
    const before = sim.stats().requests.DescribeStreamSummary ?? 0;
    const p = producer(streamName, { maxRecordBytes: 10 * MiB, rateLimitPercent: 10_000 });
    const results = await Promise.all([p.put(record('a', 10, 1)), p.put(record('b', 10 * MiB, 2))]);
    expect(results).toHaveLength(2);
    await p.close();
    expect(sim.stats().requests.DescribeStreamSummary ?? 0).toBe(before);
  });
});

describe('large records on a stream that allows 1 MiB', () => {
  it('rejects a 10 MiB record at put with a clear INVALID_RECORD error, once the limit is known', async () => {
    const streamName = newStream(1);
    const p = producer(streamName);
    await p.put(record('warm', 10, 1));
    const error = await p.put(record('k', 10 * MiB, 2)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).code).toBe('INVALID_RECORD');
    expect((error as ValidationError).retriable).toBe(false);
    expect((error as Error).message).toMatch(
      /10485760 bytes .* above the stream's maximum record size .* 1048576/,
    );
    // The producer goes on.
    await expect(p.put(record('after', 10, 3))).resolves.toMatchObject({ shardId: 'shardId-000000000000' });
    await p.close();
  });

  it('rejects it as well when put before the limit is known, and stores the others', async () => {
    const streamName = newStream(1);
    const p = producer(streamName);
    const small = p.put(record('small', 10, 1));
    const large = p.put(record('large', 10 * MiB, 2));
    const medium = p.put(record('medium', MiB, 3));
    await expect(large).rejects.toBeInstanceOf(ValidationError);
    await expect(large).rejects.toThrow(/above the stream's maximum record size/);
    await expect(small).resolves.toBeDefined();
    await expect(medium).resolves.toBeDefined();
    await p.close();
  });

  it('without kinesis:DescribeStreamSummary, assumes 1 MiB and still works', async () => {
    const streamName = newStream(1, 10_240);
    const client = sim.createClient({ maxAttempts: 1 });
    const send = client.send.bind(client);
    vi.spyOn(client, 'send').mockImplementation(((
      command: { constructor: { name: string } },
      ...rest: unknown[]
    ) => {
      if (command.constructor.name === 'DescribeStreamSummaryCommand') {
        const denied = Object.assign(new Error('not authorized'), {
          name: 'AccessDeniedException',
          $fault: 'client',
          $metadata: { httpStatusCode: 400 },
        });
        return Promise.reject(denied);
      }
      return (send as (...args: unknown[]) => Promise<unknown>)(command, ...rest);
    }) as typeof client.send);
    const p = new KinesisProducer({ client, streamName, maxBufferedTimeMs: 10 });
    await expect(p.put(record('small', 10, 1))).resolves.toBeDefined();
    await expect(p.put(record('large', 2 * MiB, 2))).rejects.toThrow(
      /DescribeStreamSummary failed: AccessDeniedException/,
    );
    await p.close();
  });
});

describe('internal errors', () => {
  afterEach(() => vi.restoreAllMocks());

  it('never throw from the timer: the records concerned fail retriably and the producer goes on', async () => {
    const streamName = newStream(1);
    const p = producer(streamName);
    const original = RequestBuilder.prototype.fillFrom;
    let calls = 0;
    vi.spyOn(RequestBuilder.prototype, 'fillFrom').mockImplementation(function (
      this: RequestBuilder,
      ...args
    ) {
      calls += 1;
      const result = original.apply(this, args);
      if (calls === 1) throw new Error('boom');
      return result;
    });
    const warnings: string[] = [];
    p.on('warning', ({ message }) => warnings.push(message));
    const error = await p.put(record('k', 10, 1)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServiceError);
    expect((error as ServiceError).serviceCode).toBe('InternalProducerError');
    expect((error as ServiceError).retriable).toBe(true);
    expect(warnings.join()).toMatch(/boom/);
    await expect(p.put(record('k', 10, 2))).resolves.toBeDefined();
    await p.close();
  });
});

describe('internal errors in promise callbacks', () => {
  afterEach(() => vi.restoreAllMocks());

  it('a failure handling a shard map listing is reported, not an unhandled rejection', async () => {
    const streamName = newStream(1);
    const p = producer(streamName);
    const unhandled: unknown[] = [];
    const onUnhandled = (error: unknown) => unhandled.push(error);
    process.on('unhandledRejection', onUnhandled);
    const warnings: string[] = [];
    p.on('warning', ({ message }) => warnings.push(message));
    // A listener error is already contained (userCode.ts); make the handler itself fail once instead.
    const target = p as unknown as { onMapLoaded: (...args: unknown[]) => void };
    const original = target.onMapLoaded.bind(p);
    let calls = 0;
    target.onMapLoaded = (...args: unknown[]) => {
      calls += 1;
      if (calls === 1) throw new Error('map handler bug');
      original(...args);
    };
    const first = p.put(record('k', 10, 1));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(warnings.join()).toMatch(/map handler bug/);
    // The record put while the handler failed is routed on the next tick and stored.
    await expect(first).resolves.toMatchObject({ shardId: 'shardId-000000000000' });
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled).toEqual([]);
    void p.close();
  });
});

describe('options at their documented extremes', () => {
  const pick = <T>(...values: T[]) => fc.constantFrom(...values);
  const options = fc.record(
    {
      aggregation: pick(undefined, true, false),
      aggregationMaxBytes: pick(undefined, 64, MiB, 10 * MiB),
      aggregationMaxRecords: pick(undefined, 1, 4_294_967_295),
      collectionMaxCount: pick(undefined, 1, 500),
      collectionMaxBytes: pick(undefined, 1, 5 * MiB, 10 * MiB),
      maxBufferedTimeMs: pick(undefined, 0, 60_000),
      recordTtlMs: pick(undefined, 100, 86_400_000),
      maxRecordBytes: pick(undefined, 1, MiB, 10 * MiB),
      maxBufferedBytes: pick(undefined, 1, 10 * MiB, Number.MAX_SAFE_INTEGER),
      maxBufferedRecords: pick(undefined, 1, 100_000_000),
      maxInFlightRequests: pick(undefined, 1, 1_000),
      requestTimeoutMs: pick(undefined, 100, 600_000),
      retryBaseDelayMs: pick(undefined, 1, 60_000),
      retryMaxDelayMs: pick(undefined, 1, 300_000),
      maxRequestRetries: pick(undefined, 0, 100),
      rateLimitPercent: pick(undefined, 1, 10_000),
      ordered: pick(undefined, true, false),
      reshardResend: pick(undefined, 'outOfRange' as const, 'wholeAggregate' as const),
      failIfThrottled: pick(undefined, true, false),
      shardMapRefreshMinDelayMs: pick(undefined, 1, 60_000),
      shardMapRefreshMaxDelayMs: pick(undefined, 1, 600_000),
    },
    { requiredKeys: [] },
  );

  it('construct or fail with ConfigurationError, and run without an uncaught error', async () => {
    const streamName = newStream(2, 10_240);
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUncaught);
    let constructed = 0;
    try {
      await fc.assert(
        fc.asyncProperty(options, async (chosen) => {
          let p: KinesisProducer;
          try {
            p = producer(streamName, {
              maxBufferedTimeMs: undefined,
              retryBaseDelayMs: undefined,
              retryMaxDelayMs: undefined,
              ...chosen,
            });
          } catch (error) {
            expect(error).toBeInstanceOf(ConfigurationError);
            return;
          }
          constructed += 1;
          const limit = chosen.maxRecordBytes ?? 10 * MiB;
          const sizes = [1, Math.min(limit, 100), limit];
          const puts = sizes.map((bytes, i) =>
            p.put({ partitionKey: 'k', data: Buffer.alloc(bytes - 1, i) }).then(
              () => undefined,
              (error: unknown) => {
                expect(error).toBeInstanceOf(ProducerError);
              },
            ),
          );
          void p.flush();
          await Promise.race([Promise.all(puts), new Promise((resolve) => setTimeout(resolve, 700))]);
          // Close without waiting for records a 1% rate limit or a day-long TTL would hold back.
          void p.close();
        }),
        { numRuns: 30, seed: 20_251_204 },
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      process.off('uncaughtException', onUncaught);
      process.off('unhandledRejection', onUncaught);
    }
    expect(uncaught).toEqual([]);
    expect(constructed).toBeGreaterThan(5);
  }, 120_000);
});
