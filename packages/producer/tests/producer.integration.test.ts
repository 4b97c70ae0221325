import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type KinesisClient, SplitShardCommand } from '@aws-sdk/client-kinesis';
import {
  connectLocalStack,
  createStream,
  Faults,
  injectKinesisFaults,
  type KinesisFaultPlan,
  listAllShards,
  uniqueName,
  waitForStreamActive,
} from '@shardline/testkit';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  ExpiredError,
  KinesisProducer,
  ProducerClosedError,
  type ProducerOptions,
  type PutResult,
  ServiceError,
  ValidationError,
} from '../src/index.js';
import { inStreamOrder, readUserRecords } from './streamReader.js';

const stack = connectLocalStack(inject('localStack'));
afterAll(() => stack.destroy());

// Fast backoff keeps the suite quick; the behaviour under test does not depend on the scale.
function producer(
  client: KinesisClient,
  streamName: string,
  options: Partial<ProducerOptions> = {},
): KinesisProducer {
  return new KinesisProducer({
    client,
    streamName,
    maxBufferedTimeMs: 20,
    retryBaseDelayMs: 10,
    retryMaxDelayMs: 200,
    shardMapRefreshMinDelayMs: 50,
    shardMapRefreshMaxDelayMs: 500,
    ...options,
  });
}

// 30% throttled entries, 5% InternalFailure entries, plus occasional 500s, 503s, timeouts and resets of
// whole calls. Timeouts and resets do not reach the server here: one that did would make a duplicate that
// no producer can avoid (the write happened, the answer was lost).
const FAULTS: KinesisFaultPlan = {
  seed: 7,
  putRecordsEntries: { throughputExceeded: 0.3, internalFailure: 0.05 },
  rules: [
    { name: '500', operations: ['PutRecords'], probability: 0.05, action: Faults.serverError(500) },
    { name: '503', operations: ['PutRecords'], probability: 0.03, action: Faults.serverError(503) },
    {
      name: 'timeout',
      operations: ['PutRecords'],
      probability: 0.03,
      action: Faults.timeout({ afterMs: 30 }),
    },
    { name: 'reset', operations: ['PutRecords'], probability: 0.02, action: Faults.connectionReset() },
  ],
};

const payload = (tag: string, i: number): string => `${tag}-${i}-${'p'.repeat(60)}`;

async function stream(shardCount: number): Promise<string> {
  const name = uniqueName('producer');
  await createStream(stack.kinesis, { streamName: name, shardCount });
  return name;
}

function expectExactlyOnce(
  results: PutResult[],
  read: Awaited<ReturnType<typeof readUserRecords>>,
  tag: string,
): void {
  const byPayload = new Map<string, typeof read>();
  for (const record of read)
    byPayload.set(record.payload, [...(byPayload.get(record.payload) ?? []), record]);
  expect(read).toHaveLength(results.length);
  results.forEach((result, i) => {
    const copies = byPayload.get(payload(tag, i)) ?? [];
    expect(copies).toHaveLength(1);
    const copy = copies[0];
    expect(copy?.shardId).toBe(result.shardId);
    expect(copy?.sequenceNumber).toBe(result.sequenceNumber);
    expect(copy?.subSequenceNumber).toBe(result.subSequenceNumber ?? 0);
  });
}

describe('KinesisProducer against kinesis-local', () => {
  it('writes every record exactly once, with the shard and sequence numbers it reports', async () => {
    const name = await stream(3);
    const p = producer(stack.kinesis, name);
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) => p.put({ partitionKey: `user-${i}`, data: payload('plain', i) })),
    );
    await p.close();
    expect(new Set(results.map((r) => r.shardId)).size).toBe(3);
    expect(results.some((r) => r.subSequenceNumber !== undefined && r.subSequenceNumber > 0)).toBe(true);
    expectExactlyOnce(results, await readUserRecords(stack.kinesis, name), 'plain');
    expect(p.metrics().KinesisRecordsPut).toBeLessThan(30);
  });

  it('loses and duplicates nothing under throttling, internal failures, 5xx, timeouts and resets', async () => {
    const name = await stream(2);
    const client = stack.createKinesisClient();
    const faults = injectKinesisFaults(client, FAULTS);
    const p = producer(client, name, { aggregationMaxBytes: 2_000 });
    const results = await Promise.all(
      Array.from({ length: 400 }, (_, i) =>
        p.put({ partitionKey: `user-${i % 50}`, data: payload('faults', i) }),
      ),
    );
    await p.close();
    faults.remove();
    const counters = faults.counters();
    expect(counters.entries.throughputExceeded).toBeGreaterThan(0);
    expect(counters.entries.internalFailure).toBeGreaterThan(0);
    expect(counters.byKind.serviceError + counters.byKind.timeout + counters.byKind.reset).toBeGreaterThan(0);
    expectExactlyOnce(results, await readUserRecords(stack.kinesis, name), 'faults');
    expect(results.some((r) => r.attempts.length > 1)).toBe(true);
    expect(p.metrics().ErrorsByCode.ProvisionedThroughputExceededException).toBeGreaterThan(0);
  });

  it('keeps per-key order in ordered mode under the same faults', async () => {
    const name = await stream(2);
    const client = stack.createKinesisClient();
    const faults = injectKinesisFaults(client, { ...FAULTS, seed: 11 });
    const p = producer(client, name, { ordered: true, aggregationMaxBytes: 1_000 });
    const puts: Promise<PutResult>[] = [];
    for (let i = 0; i < 300; i++)
      puts.push(p.put({ partitionKey: `key-${i % 6}`, data: payload('ordered', i) }));
    const results = await Promise.all(puts);
    await p.close();
    faults.remove();
    const read = await readUserRecords(stack.kinesis, name);
    expectExactlyOnce(results, read, 'ordered');
    const last = new Map<string, number>();
    for (const record of inStreamOrder(read)) {
      const index = Number(record.payload.split('-')[1]);
      expect(index).toBeGreaterThan(last.get(record.partitionKey) ?? -1);
      last.set(record.partitionKey, index);
    }
    expect(results.some((r) => r.attempts.length > 1)).toBe(true);
  });

  it('detects a SplitShard during production; every record lands in the shard owning its hash key', async () => {
    const name = await stream(1);
    const p = producer(stack.kinesis, name, { maxBufferedTimeMs: 10 });
    const reasons: string[] = [];
    p.on('shardMapRefreshed', ({ reason }) => reasons.push(reason));
    const [parent] = await listAllShards(stack.kinesis, name);
    const puts: Promise<PutResult>[] = [];
    let splitDone = false;
    // Keeps producing until well after the split, however long the emulator takes (bounded).
    const producing = (async () => {
      let afterSplit = 0;
      for (let i = 0; i < 3_000 && afterSplit < 100; i++) {
        puts.push(p.put({ partitionKey: `user-${i}`, data: payload('split', i) }));
        if (splitDone) afterSplit += 1;
        if (i % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 40));
    await stack.kinesis.send(
      new SplitShardCommand({
        StreamName: name,
        ShardToSplit: parent?.ShardId,
        NewStartingHashKey: (1n << 127n).toString(),
      }),
    );
    await waitForStreamActive(stack.kinesis, name);
    splitDone = true;
    await producing;
    const results = await Promise.all(puts);
    await p.close();
    expect(reasons[0]).toBe('initial');
    expect(reasons).toContain('wrongShard');
    const shards = await listAllShards(stack.kinesis, name);
    expect(shards).toHaveLength(3);
    const read = await readUserRecords(stack.kinesis, name);
    expectExactlyOnce(results, read, 'split');
    for (const record of read) {
      const shard = shards.find((s) => s.ShardId === record.shardId);
      expect(record.hashKey >= BigInt(shard?.HashKeyRange?.StartingHashKey ?? '-1')).toBe(true);
      expect(record.hashKey <= BigInt(shard?.HashKeyRange?.EndingHashKey ?? '-1')).toBe(true);
    }
    // Records put after the split went to the children.
    expect(results.at(-1)?.shardId).not.toBe(parent?.ShardId);
  });

  it('reports TTL expiry and validation errors per record, and the others still land', async () => {
    const name = await stream(1);
    const client = stack.createKinesisClient();
    // Every entry carrying the doomed key is throttled; the rest go through.
    const faults = injectKinesisFaults(client, {
      putRecordsEntries: {
        throughputExceeded: 1,
        match: (entry) => entry.PartitionKey === 'doomed',
      },
    });
    const p = producer(client, name, { recordTtlMs: 400, aggregation: false });
    const doomed = p.put({ partitionKey: 'doomed', data: 'never' });
    const invalid = p.put({ partitionKey: 'x'.repeat(257), data: 'bad' });
    const ok = Array.from({ length: 20 }, (_, i) =>
      p.put({ partitionKey: `ok-${i}`, data: payload('ttl', i) }),
    );
    await expect(invalid).rejects.toBeInstanceOf(ValidationError);
    const expired = await doomed.catch((e: unknown) => e);
    expect(expired).toBeInstanceOf(ExpiredError);
    expect((expired as ExpiredError).attempts.length).toBeGreaterThan(1);
    expect(
      (expired as ExpiredError).attempts.every(
        (a) => a.errorCode === 'ProvisionedThroughputExceededException',
      ),
    ).toBe(true);
    const results = await Promise.all(ok);
    await p.close();
    faults.remove();
    expectExactlyOnce(results, await readUserRecords(stack.kinesis, name), 'ttl');
  });

  it('stays within its memory bounds when Kinesis is slower than the caller', async () => {
    const name = await stream(2);
    const client = stack.createKinesisClient();
    const faults = injectKinesisFaults(client, {
      rules: [{ operations: ['PutRecords'], action: Faults.delay(40) }],
    });
    const p = producer(client, name, {
      maxBufferedRecords: 60,
      maxBufferedBytes: 20_000,
      maxRecordBytes: 1_000,
      maxInFlightRequests: 2,
    });
    let maxPending = 0;
    let maxBytes = 0;
    const sample = setInterval(() => {
      const m = p.metrics();
      maxPending = Math.max(maxPending, m.UserRecordsPending);
      maxBytes = Math.max(maxBytes, m.BufferedBytes);
    }, 2);
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < 600; i++) yield { partitionKey: `user-${i}`, data: payload('memory', i) };
      })(),
    );
    await pipeline(source, p.writable());
    clearInterval(sample);
    await p.close();
    faults.remove();
    expect(maxPending).toBeGreaterThan(0);
    expect(maxPending).toBeLessThanOrEqual(60);
    expect(maxBytes).toBeLessThanOrEqual(20_000);
    const read = await readUserRecords(stack.kinesis, name);
    expect(new Set(read.map((r) => r.payload)).size).toBe(600);
    expect(read).toHaveLength(600);
  });

  it('flush and close: settle what was put, refuse what comes after, safe twice', async () => {
    const name = await stream(1);
    const p = producer(stack.kinesis, name, { maxBufferedTimeMs: 60_000 });
    const puts = Array.from({ length: 10 }, (_, i) =>
      p.put({ partitionKey: `k${i}`, data: payload('flush', i) }),
    );
    // Without flush these would linger for a minute.
    expect(await p.flush()).toEqual({ succeeded: 10, failed: 0 });
    const results = await Promise.all(puts);
    const closing = p.close();
    expect(p.close()).toBe(closing);
    await closing;
    await expect(p.put({ partitionKey: 'late', data: 'x' })).rejects.toBeInstanceOf(ProducerClosedError);
    expectExactlyOnce(results, await readUserRecords(stack.kinesis, name), 'flush');
  });

  it('aborts an attempt after requestTimeoutMs through the real SDK and retries it', async () => {
    const name = await stream(1);
    const client = stack.createKinesisClient();
    const faults = injectKinesisFaults(client, {
      rules: [{ operations: ['PutRecords'], times: 1, action: Faults.delay(400) }],
    });
    const p = producer(client, name, { requestTimeoutMs: 150 });
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) => p.put({ partitionKey: `k${i}`, data: payload('abort', i) })),
    );
    await p.close();
    faults.remove();
    for (const result of results) {
      expect(result.attempts[0]?.success).toBe(false);
      expect(result.attempts.at(-1)?.success).toBe(true);
    }
    expect(p.metrics().ErrorsByCode).toEqual({ AbortError: 1 });
    expect(results[0]?.attempts[0]?.errorCode).toBe('AbortError');
    expectExactlyOnce(results, await readUserRecords(stack.kinesis, name), 'abort');
  });

  it('fails fast when the stream does not exist', async () => {
    const p = producer(stack.kinesis, uniqueName('missing'));
    const error = await p.put({ partitionKey: 'k', data: 'x' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServiceError);
    expect((error as ServiceError).serviceCode).toBe('ResourceNotFoundException');
    expect((error as ServiceError).retriable).toBe(false);
    await p.close();
  });
});
