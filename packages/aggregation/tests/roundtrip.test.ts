import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AggregatedRecord,
  deaggregate,
  hashKey,
  MAX_HASH_KEY,
  RecordAggregator,
  RecordTooLargeError,
  type UserRecordInput,
} from '../src/index.js';
import { kinesisSize } from './helpers.js';

const userRecord: fc.Arbitrary<UserRecordInput> = fc.record({
  partitionKey: fc.oneof(
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((s) => s.length <= 256),
    fc.constantFrom('a', 'shared-key', 'ключ', '鍵🔑'),
  ),
  explicitHashKey: fc.option(
    fc.oneof(fc.bigInt({ min: 0n, max: MAX_HASH_KEY }), fc.constantFrom(0n, MAX_HASH_KEY)).map(String),
    { nil: undefined },
  ),
  data: fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.string({ unit: 'grapheme', maxLength: 50 })),
});

function dataBytes(data: Uint8Array | string): Uint8Array {
  return typeof data === 'string' ? new Uint8Array(Buffer.from(data, 'utf8')) : data;
}

describe('aggregate then de-aggregate', () => {
  it('returns every accepted user record, in order, with exact sizes and within maxBytes (property)', () => {
    fc.assert(
      fc.property(
        fc.array(userRecord, { maxLength: 60 }),
        fc.integer({ min: 64, max: 4_096 }),
        fc.integer({ min: 1, max: 20 }),
        fc.boolean(),
        (inputs, maxBytes, maxRecords, emitSingleRecordRaw) => {
          const aggregator = new RecordAggregator({ maxBytes, maxRecords, emitSingleRecordRaw });
          const accepted: UserRecordInput[] = [];
          const produced: AggregatedRecord[] = [];
          for (const input of inputs) {
            const sizeBefore = aggregator.size;
            const countBefore = aggregator.count;
            let completed: AggregatedRecord | undefined;
            try {
              completed = aggregator.add(input);
            } catch (error) {
              expect(error).toBeInstanceOf(RecordTooLargeError);
              // Nothing pending was affected.
              expect(aggregator.size).toBe(sizeBefore);
              expect(aggregator.count).toBe(countBefore);
              continue;
            }
            accepted.push(input);
            if (completed) {
              // `size` predicted the completed record's bytes exactly.
              expect(kinesisSize(completed)).toBe(sizeBefore);
              expect(completed.count).toBe(countBefore);
              produced.push(completed);
            }
            expect(aggregator.size).toBeLessThanOrEqual(maxBytes);
          }
          const sizeBefore = aggregator.size;
          const last = aggregator.flush();
          if (last) {
            expect(kinesisSize(last)).toBe(sizeBefore);
            produced.push(last);
          }
          expect(aggregator.count).toBe(0);

          const recovered = [];
          for (const [i, record] of produced.entries()) {
            expect(kinesisSize(record)).toBeLessThanOrEqual(maxBytes);
            expect(record.count).toBeLessThanOrEqual(maxRecords);
            const users = deaggregate({
              Data: record.data,
              PartitionKey: record.partitionKey,
              SequenceNumber: `${i}`,
            });
            expect(users).toHaveLength(record.count);
            if (users[0]?.aggregated) {
              expect(record.partitionKey).toBe('a');
              // The aggregate routes by its first user record's hash key.
              expect(record.explicitHashKey).toBe(
                hashKey(users[0].partitionKey, users[0].explicitHashKey).toString(),
              );
              expect(users.map((u) => u.subSequenceNumber)).toEqual(users.map((_, j) => j));
            } else {
              expect(record.count).toBe(1);
              expect(emitSingleRecordRaw).toBe(true);
            }
            for (const user of users) {
              expect(user.sequenceNumber).toBe(`${i}`);
              expect(user.aggregationError).toBeUndefined();
              recovered.push({
                partitionKey: user.aggregated ? user.partitionKey : record.partitionKey,
                explicitHashKey: user.aggregated ? user.explicitHashKey : record.explicitHashKey,
                data: Array.from(user.data),
              });
            }
          }
          expect(recovered).toEqual(
            accepted.map((input) => ({
              partitionKey: input.partitionKey,
              explicitHashKey: input.explicitHashKey,
              data: Array.from(dataBytes(input.data)),
            })),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('round-trips large payloads up to the 1 MiB bound', () => {
    const aggregator = new RecordAggregator();
    const payload = new Uint8Array(300_000).map((_, i) => i % 251);
    const produced: AggregatedRecord[] = [];
    for (let i = 0; i < 7; i++) {
      const done = aggregator.add({ partitionKey: `key-${i}`, data: payload });
      if (done) produced.push(done);
    }
    const last = aggregator.flush();
    if (last) produced.push(last);
    expect(produced.map((r) => r.count)).toEqual([3, 3, 1]);
    for (const record of produced) expect(kinesisSize(record)).toBeLessThanOrEqual(1_048_576);
    const users = produced.flatMap((r) => deaggregate({ Data: r.data }));
    expect(users).toHaveLength(7);
    for (const user of users) expect(Buffer.compare(user.data, payload)).toBe(0);
  });
});
