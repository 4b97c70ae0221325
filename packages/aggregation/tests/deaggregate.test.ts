import { describe, expect, it } from 'vitest';
import {
  AggregationFormatError,
  ChecksumMismatchError,
  ConfigurationError,
  deaggregate,
  deaggregateAll,
  deaggregateWithStats,
  hashKey,
  InvalidHashKeyError,
  InvalidOptionsError,
  InvalidRecordError,
  RecordAggregator,
  ShardlineAggregationError,
} from '../src/index.js';
import { frame } from './protobuf.js';
import { lengthDelimited, record, tag, varintField } from './wire.js';

const texts = (records: { data: Uint8Array }[]) => records.map((r) => Buffer.from(r.data).toString('utf8'));

function sdk(data: Uint8Array) {
  return {
    Data: data,
    PartitionKey: 'outer',
    SequenceNumber: '49590338271490256608559692538361571095921575989136588898',
  };
}

describe('deaggregate', () => {
  it('passes a record without the magic, or too short, through as one ordinary record', () => {
    for (const data of [
      new Uint8Array(0),
      Buffer.from('plain'),
      frame(new Uint8Array(0)), // magic + MD5 only: nothing follows the magic beyond 16 bytes (KCL rule)
      Buffer.from([0xf3, 0x89, 0x9a]),
    ]) {
      const records = deaggregate(sdk(data));
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({ partitionKey: 'outer', subSequenceNumber: 0, aggregated: false });
      expect(records[0]?.explicitHashKey).toBeUndefined();
      expect(records[0]?.aggregationError).toBeUndefined();
      expect(Buffer.compare(records[0]?.data ?? new Uint8Array(1), data)).toBe(0);
    }
  });

  it('passes an aggregate with a bad MD5 through whole, flagged, or throws in strict mode', () => {
    const data = frame(new Uint8Array([...lengthDelimited(1, 'pk'), ...record(0, 'x')]));
    data[data.length - 1] = (data[data.length - 1] as number) ^ 1;
    const [passed, ...rest] = deaggregate(sdk(data));
    expect(rest).toEqual([]);
    expect(passed).toMatchObject({ aggregated: false, aggregationError: 'checksum', partitionKey: 'outer' });
    expect(passed?.data).toBe(data);
    expect(() => deaggregate(sdk(data), { strict: true })).toThrow(ChecksumMismatchError);
    // Without verification the body is decoded anyway.
    expect(texts(deaggregate(sdk(data), { verifyChecksum: false }))).toEqual(['x']);
  });

  it('passes a malformed aggregate through whole, flagged, or throws a typed error in strict mode', () => {
    const malformed = [
      [...lengthDelimited(1, 'pk'), 0x1a, 0x7f], // length past the end
      [...lengthDelimited(1, 'pk'), ...record(1, 'x')], // partition key index outside the table
      [...lengthDelimited(1, 'pk'), ...record(0, 'x', 0)], // explicit hash key index outside the table
      [...lengthDelimited(1, 'pk'), ...lengthDelimited(3, lengthDelimited(3, 'no index'))],
      [...lengthDelimited(1, 'pk'), ...lengthDelimited(3, varintField(1, 0))], // no data
      [
        ...lengthDelimited(1, 'pk'),
        ...record(0, 'x', undefined, lengthDelimited(4, lengthDelimited(2, 'v'))),
      ], // tag without key
      [0x0f], // wire type 7
      [0x00, 0x00], // field number 0
      [...tag(9, 0), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // varint over 10 bytes
      [...tag(9, 3), ...varintField(1, 1)], // unterminated group
      [...tag(9, 4)], // end group without start
    ];
    for (const body of malformed) {
      const data = frame(new Uint8Array(body));
      const records = deaggregate(sdk(data));
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({ aggregated: false, aggregationError: 'decode' });
      expect(records[0]?.data).toBe(data);
      let caught: unknown;
      try {
        deaggregate(sdk(data), { strict: true });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(AggregationFormatError);
      expect(caught).toMatchObject({ code: 'AGGREGATION_FORMAT', retriable: false });
    }
  });

  it('accepts fields in any order, unknown fields of every wire type, groups and tags', () => {
    const unknown = [
      ...varintField(15, 300),
      ...tag(16, 1),
      ...[1, 2, 3, 4, 5, 6, 7, 8],
      ...tag(17, 5),
      ...[1, 2, 3, 4],
      ...lengthDelimited(18, 'skip me'),
      ...tag(19, 3),
      ...varintField(1, 5),
      ...tag(20, 3),
      ...tag(20, 4),
      ...tag(19, 4),
    ];
    const tagMessage = lengthDelimited(4, [
      ...lengthDelimited(1, 'k'),
      ...lengthDelimited(2, 'v'),
      ...unknown,
    ]);
    // A record whose fields come in reverse order, with a wrong-wire-type partition key index (skipped as
    // unknown, as protobuf-java does) before the real one.
    const reversed = lengthDelimited(3, [
      ...tagMessage,
      ...lengthDelimited(3, 'second'),
      ...lengthDelimited(1, 'not a varint'),
      ...varintField(2, 0),
      ...varintField(1, 1),
    ]);
    const body = [
      ...unknown,
      ...record(0, 'first', undefined, [...unknown, ...tagMessage]),
      ...reversed,
      ...lengthDelimited(2, '42'),
      ...lengthDelimited(1, 'pk0'),
      ...unknown,
      ...lengthDelimited(1, 'pk1'),
    ];
    const records = deaggregate(sdk(frame(new Uint8Array(body))), { strict: true });
    expect(
      records.map((r) => [r.partitionKey, r.explicitHashKey, r.subSequenceNumber, r.aggregated]),
    ).toEqual([
      ['pk0', undefined, 0, true],
      ['pk1', '42', 1, true],
    ]);
    expect(texts(records)).toEqual(['first', 'second']);
  });

  it('returns zero-copy views with sub-sequence numbers from a Lambda payload', () => {
    const aggregator = new RecordAggregator();
    for (let i = 0; i < 5; i++) aggregator.add({ partitionKey: `k${i}`, data: `d${i}` });
    const data = aggregator.flush()?.data ?? new Uint8Array();
    const records = deaggregate({
      data: Buffer.from(data).toString('base64'),
      partitionKey: 'a',
      sequenceNumber: '7',
      approximateArrivalTimestamp: 1_700_000_000.123,
    });
    expect(records.map((r) => r.subSequenceNumber)).toEqual([0, 1, 2, 3, 4]);
    expect(texts(records)).toEqual(['d0', 'd1', 'd2', 'd3', 'd4']);
    const buffer = records[0]?.data.buffer;
    for (const r of records) {
      expect(r.data.buffer).toBe(buffer);
      expect(r.approximateArrivalTimestamp?.getTime()).toBe(1_700_000_000_123);
      expect(r.sequenceNumber).toBe('7');
    }
  });

  it('judges each user record against the hash key range: flags by default, keeps or drops on request', () => {
    const aggregator = new RecordAggregator();
    const keys = Array.from({ length: 40 }, (_, i) => `key-${i}`);
    for (const key of keys) aggregator.add({ partitionKey: key, data: key });
    aggregator.add({ partitionKey: 'explicit-low', explicitHashKey: '5', data: 'explicit-low' });
    const data = aggregator.flush()?.data ?? new Uint8Array();
    const half = 1n << 127n;
    const lower = { startingHashKey: '0', endingHashKey: (half - 1n).toString() };
    const upper = { startingHashKey: half, endingHashKey: (1n << 128n) - 1n };
    const all = [...keys, 'explicit-low'];
    const expectedLow = [...keys.filter((k) => hashKey(k) < half), 'explicit-low'];
    const expectedHigh = keys.filter((k) => hashKey(k) >= half);
    expect(expectedLow.length).toBeGreaterThan(5);
    expect(expectedHigh.length).toBeGreaterThan(5);

    // Default: every user record returned, those outside flagged, all of them counted, none dropped.
    const flagged = deaggregateWithStats(sdk(data), { hashKeyRange: lower });
    expect(texts(flagged.records)).toEqual(all);
    expect(texts(flagged.records.filter((r) => r.outOfRange === true))).toEqual(expectedHigh);
    expect(flagged.records.filter((r) => r.outOfRange !== true).every((r) => !('outOfRange' in r))).toBe(
      true,
    );
    expect(flagged).toMatchObject({ outOfRange: expectedHigh.length, droppedOutOfRange: 0 });
    expect(deaggregate(sdk(data), { hashKeyRange: lower })).toEqual(flagged.records);

    const kept = deaggregateWithStats(sdk(data), { hashKeyRange: lower, outOfRange: 'keep' });
    expect(texts(kept.records)).toEqual(all);
    expect(kept.records.some((r) => 'outOfRange' in r)).toBe(false);
    expect(kept).toMatchObject({ outOfRange: expectedHigh.length, droppedOutOfRange: 0 });

    const low = deaggregateWithStats(sdk(data), { hashKeyRange: lower, outOfRange: 'drop' });
    const high = deaggregateWithStats(sdk(data), { hashKeyRange: upper, outOfRange: 'drop' });
    expect(texts(low.records)).toEqual(expectedLow);
    expect(texts(high.records)).toEqual(expectedHigh);
    expect(low).toMatchObject({ outOfRange: expectedHigh.length, droppedOutOfRange: expectedHigh.length });
    expect(high).toMatchObject({ outOfRange: expectedLow.length, droppedOutOfRange: expectedLow.length });
    // Sub-sequence numbers stay those of the aggregate.
    expect(high.records.every((r) => texts([r])[0] === keys[r.subSequenceNumber])).toBe(true);

    // Without a range nothing is judged, whatever the policy.
    for (const outOfRange of ['keep', 'flag', 'drop'] as const) {
      const none = deaggregateWithStats(sdk(data), { outOfRange });
      expect(texts(none.records)).toEqual(all);
      expect(none).toMatchObject({ outOfRange: 0, droppedOutOfRange: 0 });
      expect(none.records.some((r) => 'outOfRange' in r)).toBe(false);
    }
  });

  it('never judges records that were not aggregated, nor aggregates passed through whole', () => {
    const nowhere = { startingHashKey: 0n, endingHashKey: 0n };
    const corrupt = frame(new Uint8Array([...lengthDelimited(1, 'pk'), ...record(0, 'x')]));
    corrupt[corrupt.length - 1] = (corrupt[corrupt.length - 1] as number) ^ 1;
    for (const outOfRange of ['keep', 'flag', 'drop'] as const) {
      for (const data of [Buffer.from('raw'), corrupt]) {
        const result = deaggregateWithStats(sdk(data), { hashKeyRange: nowhere, outOfRange });
        expect(result).toMatchObject({
          outOfRange: 0,
          droppedOutOfRange: 0,
          records: [{ aggregated: false }],
        });
        expect(result.records[0]?.outOfRange).toBeUndefined();
      }
    }
  });

  it('rejects a bad range or policy with a typed error naming the value, whatever the record', () => {
    const aggregator = new RecordAggregator();
    aggregator.add({ partitionKey: 'a', data: 'one' });
    aggregator.add({ partitionKey: 'b', data: 'two' });
    const data = aggregator.flush()?.data ?? new Uint8Array();
    for (const input of [sdk(data), sdk(Buffer.from('raw'))]) {
      expect(() =>
        deaggregate(input, { hashKeyRange: { startingHashKey: '-1', endingHashKey: '1' } }),
      ).toThrow(/startingHashKey "-1"/);
      expect(() =>
        deaggregate(input, { hashKeyRange: { startingHashKey: '1', endingHashKey: 'x' } }),
      ).toThrow(InvalidHashKeyError);
      let caught: unknown;
      try {
        deaggregate(input, { outOfRange: 'skip' as 'drop' });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(InvalidOptionsError);
      expect(caught).toMatchObject({ code: 'CONFIGURATION', retriable: false });
      expect(caught).toBeInstanceOf(ConfigurationError);
      expect((caught as Error).message).toContain('"skip"');
      expect(() => deaggregate(input, { outOfRange: null as unknown as 'drop' })).toThrow(
        InvalidOptionsError,
      );
    }
  });

  it('treats an explicit hash key that is not a 128-bit decimal as malformed only when judging by range', () => {
    const data = frame(
      new Uint8Array([...lengthDelimited(1, 'pk'), ...lengthDelimited(2, 'nope'), ...record(0, 'x', 0)]),
    );
    expect(deaggregate(sdk(data))[0]?.explicitHashKey).toBe('nope');
    const range = { startingHashKey: 0n, endingHashKey: 10n };
    expect(deaggregate(sdk(data), { hashKeyRange: range })[0]?.aggregationError).toBe('decode');
    expect(() => deaggregate(sdk(data), { hashKeyRange: range, strict: true })).toThrow(
      AggregationFormatError,
    );
  });

  it('rejects records without data with a typed error, and flattens many records in order', () => {
    expect(() => deaggregate({ PartitionKey: 'x' })).toThrow(InvalidRecordError);
    expect(() => deaggregate(null as unknown as { Data: Uint8Array })).toThrow(ShardlineAggregationError);
    const aggregator = new RecordAggregator();
    aggregator.add({ partitionKey: 'a1', data: 'one' });
    aggregator.add({ partitionKey: 'a2', data: 'two' });
    const aggregate = aggregator.flush()?.data ?? new Uint8Array();
    expect(
      texts(deaggregateAll([sdk(Buffer.from('zero')), sdk(aggregate), sdk(Buffer.from('three'))])),
    ).toEqual(['zero', 'one', 'two', 'three']);
  });
});
