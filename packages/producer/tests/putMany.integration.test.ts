import type { KinesisClient } from '@aws-sdk/client-kinesis';
import {
  connectLocalStack,
  createStream,
  Faults,
  injectKinesisFaults,
  type KinesisFaultPlan,
  uniqueName,
} from '@shardline/testkit';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { KinesisProducer, ProducerError, type PutManyResult, type PutResult } from '../src/index.js';
import { inStreamOrder, readUserRecords } from './streamReader.js';

const stack = connectLocalStack(inject('localStack'));
afterAll(() => stack.destroy());

function producer(client: KinesisClient, streamName: string, ordered: boolean): KinesisProducer {
  return new KinesisProducer({
    client,
    streamName,
    ordered,
    aggregationMaxBytes: 300,
    collectionMaxCount: 10,
    maxBufferedTimeMs: 20,
    retryBaseDelayMs: 10,
    retryMaxDelayMs: 200,
  });
}

// The fault mix of the put tests (producer.integration.test.ts): throttled and InternalFailure entries,
// 500s, 503s, timeouts and resets of whole calls, seeded; one 503 and one timeout always happen, so the test
// never depends on the dice for them (a batch makes fewer calls than as many puts).
const FAULTS: KinesisFaultPlan = {
  seed: 23,
  putRecordsEntries: { throughputExceeded: 0.3, internalFailure: 0.05 },
  rules: [
    { name: 'one 503', operations: ['PutRecords'], skip: 1, times: 1, action: Faults.serverError(503) },
    {
      name: 'one timeout',
      operations: ['PutRecords'],
      skip: 3,
      times: 1,
      action: Faults.timeout({ afterMs: 30 }),
    },
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

async function run(tag: string, ordered: boolean, keys: number) {
  const name = uniqueName('putmany');
  await createStream(stack.kinesis, { streamName: name, shardCount: 2 });
  const client = stack.createKinesisClient();
  const faults = injectKinesisFaults(client, FAULTS);
  const p = producer(client, name, ordered);
  const outcome = await p.putMany(
    Array.from({ length: 400 }, (_, i) => ({ partitionKey: `key-${i % keys}`, data: payload(tag, i) })),
  );
  await p.close();
  faults.remove();
  return { outcome, counters: faults.counters(), read: await readUserRecords(stack.kinesis, name) };
}

function expectExactlyOnce(
  outcome: PutManyResult,
  read: Awaited<ReturnType<typeof readUserRecords>>,
  tag: string,
) {
  expect(outcome).toMatchObject({ succeeded: 400, failed: 0 });
  expect(read).toHaveLength(400);
  const byPayload = new Map(read.map((record) => [record.payload, record]));
  expect(byPayload.size).toBe(400);
  outcome.results.forEach((result, i) => {
    expect(result).not.toBeInstanceOf(ProducerError);
    const copy = byPayload.get(payload(tag, i));
    expect(copy?.shardId).toBe((result as PutResult).shardId);
    expect(copy?.sequenceNumber).toBe((result as PutResult).sequenceNumber);
    expect(copy?.subSequenceNumber).toBe((result as PutResult).subSequenceNumber ?? 0);
  });
}

describe('putMany against kinesis-local under faults', () => {
  it('stores every record exactly once under throttling, InternalFailure, 5xx, timeouts and resets', async () => {
    const { outcome, counters, read } = await run('many', false, 50);
    expect(counters.entries.throughputExceeded).toBeGreaterThan(0);
    expect(counters.entries.internalFailure).toBeGreaterThan(0);
    expect(counters.byKind.serviceError).toBeGreaterThan(0);
    expect(counters.byKind.timeout).toBeGreaterThan(0);
    expectExactlyOnce(outcome, read, 'many');
    expect(outcome.results.some((r) => (r as PutResult).attempts.length > 1)).toBe(true);
  });

  it('keeps per-key order in ordered mode under the same faults', async () => {
    const { outcome, read } = await run('ordered', true, 6);
    expectExactlyOnce(outcome, read, 'ordered');
    const last = new Map<string, number>();
    for (const record of inStreamOrder(read)) {
      const index = Number(record.payload.split('-')[1]);
      expect(index).toBeGreaterThan(last.get(record.partitionKey) ?? -1);
      last.set(record.partitionKey, index);
    }
  });
});
