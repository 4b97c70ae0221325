// Builders shared by the producer's unit tests.
import { KinesisProducer, type ProducerOptions } from '../src/index.js';
import type { PendingRecord } from '../src/settlement/PendingRecord.js';
import type { FakeKinesis } from './fakeKinesis.js';

let nextSeq = 0;

/** A buffered record as the producer holds it, with neutral defaults; `extra` overrides any field. */
export function pendingRecord(
  partitionKey: string,
  data: Uint8Array,
  extra: Partial<PendingRecord> = {},
): PendingRecord {
  return {
    seq: nextSeq++,
    partitionKey,
    explicitHashKey: undefined,
    data,
    bytes: data.length + Buffer.byteLength(partitionKey),
    receivedAt: 0,
    deadline: 1_000_000,
    retry: undefined,
    attempts: [],
    sent: false,
    parked: false,
    settled: false,
    resolve: () => undefined,
    reject: () => undefined,
    batch: undefined,
    slot: 0,
    ...extra,
  };
}

/** A producer on a fake Kinesis with short timings, so unit tests run in milliseconds. */
export function fakeProducer(fake: FakeKinesis, options: Partial<ProducerOptions> = {}): KinesisProducer {
  return new KinesisProducer({
    client: fake.client,
    streamName: 'test-stream',
    maxBufferedTimeMs: 5,
    retryBaseDelayMs: 2,
    retryMaxDelayMs: 20,
    shardMapRefreshMinDelayMs: 5,
    shardMapRefreshMaxDelayMs: 20,
    ...options,
  });
}
