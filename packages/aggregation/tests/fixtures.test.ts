import { describe, expect, it } from 'vitest';
import { deaggregate, isAggregated, RecordAggregator } from '../src/index.js';
import { loadFixtures } from './helpers.js';

const fixtures = loadFixtures();

describe('KPL fixtures', () => {
  it('has the fixtures this suite expects', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(4);
  });

  for (const fixture of fixtures) {
    const { kinesisRecord, expectedUserRecords } = fixture;

    it(`${fixture.name}: de-aggregates exactly from a Lambda payload`, () => {
      const records = deaggregate({
        data: kinesisRecord.data,
        partitionKey: kinesisRecord.partitionKey,
        sequenceNumber: kinesisRecord.sequenceNumber,
        approximateArrivalTimestamp: kinesisRecord.approximateArrivalTimestamp,
      });
      expect(
        records.map((r) => ({
          subSequenceNumber: r.aggregated ? r.subSequenceNumber : null,
          partitionKey: r.partitionKey,
          explicitHashKey: r.explicitHashKey ?? null,
          dataUtf8: Buffer.from(r.data).toString('utf8'),
        })),
      ).toEqual(expectedUserRecords);
      for (const record of records) {
        expect(record.sequenceNumber).toBe(kinesisRecord.sequenceNumber);
        expect(record.approximateArrivalTimestamp?.getTime()).toBe(
          Math.round(kinesisRecord.approximateArrivalTimestamp * 1000),
        );
        expect(record.aggregationError).toBeUndefined();
      }
    });

    it(`${fixture.name}: de-aggregates exactly from an SDK v3 record`, () => {
      const data = new Uint8Array(Buffer.from(kinesisRecord.data, 'base64'));
      const arrival = new Date(1_600_000_000_000);
      const records = deaggregate({
        Data: data,
        PartitionKey: kinesisRecord.partitionKey,
        SequenceNumber: kinesisRecord.sequenceNumber,
        ApproximateArrivalTimestamp: arrival,
      });
      expect(records.map((r) => Buffer.from(r.data).toString('utf8'))).toEqual(
        expectedUserRecords.map((u) => u.dataUtf8),
      );
      expect(records.map((r) => r.explicitHashKey ?? null)).toEqual(
        expectedUserRecords.map((u) => u.explicitHashKey),
      );
      for (const record of records) {
        // Zero-copy: every payload is a view into the input.
        expect(record.data.buffer).toBe(data.buffer);
        expect(record.approximateArrivalTimestamp).toBe(arrival);
      }
    });

    it(`${fixture.name}: re-aggregating the user records reproduces the KPL's bytes`, () => {
      const aggregator = new RecordAggregator();
      for (const user of expectedUserRecords) {
        expect(
          aggregator.add({
            partitionKey: user.partitionKey,
            explicitHashKey: user.explicitHashKey ?? undefined,
            data: user.dataUtf8,
          }),
        ).toBeUndefined();
      }
      const produced = aggregator.flush();
      expect(produced).toBeDefined();
      expect(Buffer.from(produced?.data ?? []).toString('base64')).toBe(kinesisRecord.data);
      expect(produced?.partitionKey).toBe(kinesisRecord.partitionKey);
      expect(produced?.count).toBe(expectedUserRecords.length);
      expect(isAggregated(produced?.data ?? new Uint8Array())).toBe(expectedUserRecords.length > 1);
    });
  }
});
