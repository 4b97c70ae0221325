import { describe, expect, it } from 'vitest';
import { varintSize } from '../src/format.js';
import {
  type AggregatedRecord,
  InvalidHashKeyError,
  InvalidOptionsError,
  InvalidRecordError,
  isAggregated,
  RecordAggregator,
  RecordTooLargeError,
  type UserRecordInput,
  utf8Length,
} from '../src/index.js';
import { kinesisSize } from './helpers.js';
import { frame, pbDecode, pbEncode } from './protobuf.js';
import { varint } from './wire.js';

// Size of the aggregate holding `records`, computed by protobufjs rather than by our own accounting.
function oracleSize(records: UserRecordInput[]): number {
  const pks: string[] = [];
  const ehks: string[] = [];
  const body = pbEncode({
    partitionKeyTable: pks,
    explicitHashKeyTable: ehks,
    records: records.map((r) => {
      if (!pks.includes(r.partitionKey)) pks.push(r.partitionKey);
      const out: { partitionKeyIndex: number; explicitHashKeyIndex?: number; data: Uint8Array } = {
        partitionKeyIndex: pks.indexOf(r.partitionKey),
        data: typeof r.data === 'string' ? Buffer.from(r.data) : r.data,
      };
      if (r.explicitHashKey !== undefined) {
        if (!ehks.includes(r.explicitHashKey)) ehks.push(r.explicitHashKey);
        out.explicitHashKeyIndex = ehks.indexOf(r.explicitHashKey);
      }
      return out;
    }),
  });
  return frame(body).length + 1;
}

const KEYS = ['k', 'ascii-key-0123456789', 'é'.repeat(40), '€'.repeat(100), '😀'.repeat(64), 'x'.repeat(256)];

describe('byte accounting', () => {
  it('sizes varints exactly at every 7-bit boundary up to 2^53', () => {
    for (let bits = 0; bits <= 53; bits++) {
      for (const value of [2 ** bits - 1, 2 ** bits, 2 ** bits + 1]) {
        if (value > Number.MAX_SAFE_INTEGER) continue;
        expect(varintSize(value)).toBe(varint(value).length);
      }
    }
  });

  it('counts UTF-8 bytes as Buffer does', () => {
    for (const key of [...KEYS, '\ud800', '\udc00x', 'a\ud83d', '\ud83d\ude00\ud83d']) {
      expect(utf8Length(key)).toBe(Buffer.byteLength(key, 'utf8'));
    }
  });

  it('adds a record exactly when the combined aggregate fits, across varint boundaries and multi-byte keys', () => {
    const lengths = [0, 1, 100, 115, 116, 117, 118, 119, 120, 127, 128, 129, 16_250, 16_370, 16_383, 16_384];
    for (const key of KEYS) {
      for (const length of lengths) {
        const first: UserRecordInput = { partitionKey: 'first', data: new Uint8Array(length) };
        const second: UserRecordInput = {
          partitionKey: key,
          explicitHashKey: '12345',
          data: new Uint8Array(length + 3),
        };
        const combined = oracleSize([first, second]);
        for (const maxBytes of [combined - 1, combined, combined + 1].filter((m) => m >= 64)) {
          const aggregator = new RecordAggregator({ maxBytes, emitSingleRecordRaw: false });
          expect(aggregator.add(first)).toBeUndefined();
          expect(aggregator.size).toBe(oracleSize([first]));
          const completed = aggregator.add(second);
          if (combined <= maxBytes) {
            expect(completed).toBeUndefined();
            expect(aggregator.size).toBe(combined);
          } else {
            expect(completed?.count).toBe(1);
          }
          const last = aggregator.flush();
          expect(last && kinesisSize(last)).toBeLessThanOrEqual(maxBytes);
        }
      }
    }
  });

  it('de-duplicates key tables and counts a repeated key once', () => {
    const records: UserRecordInput[] = [];
    for (let i = 0; i < 300; i++) {
      records.push({
        partitionKey: `key-${i % 3}`,
        explicitHashKey: i % 2 ? '7' : undefined,
        data: `payload ${i}`,
      });
    }
    const aggregator = new RecordAggregator();
    for (const record of records) expect(aggregator.add(record)).toBeUndefined();
    expect(aggregator.size).toBe(oracleSize(records));
    const produced = aggregator.flush();
    const body = pbDecode((produced?.data ?? new Uint8Array()).subarray(4, -16));
    expect(body.partitionKeyTable).toEqual(['key-0', 'key-1', 'key-2']);
    expect(body.explicitHashKeyTable).toEqual(['7']);
    expect(body.records).toHaveLength(300);
    // More than 128 records: indexes and lengths cross a varint boundary.
    expect(body.records[299]?.partitionKeyIndex).toBe(2);
  });

  it('never exceeds 1 MiB with multi-byte partition keys (where aws-kinesis-agg emits 1,089,233 bytes)', () => {
    const aggregator = new RecordAggregator();
    const produced: AggregatedRecord[] = [];
    for (let i = 0; i < 2_500; i++) {
      const key = `${'€'.repeat(250)}${i}`;
      const done = aggregator.add({ partitionKey: key, data: new Uint8Array(64 + (i % 300)) });
      if (done) produced.push(done);
    }
    const last = aggregator.flush();
    if (last) produced.push(last);
    expect(produced.length).toBeGreaterThan(1);
    for (const record of produced.slice(0, -1)) {
      expect(kinesisSize(record)).toBeLessThanOrEqual(1_048_576);
      // Tightly packed: no room for another such record.
      expect(kinesisSize(record)).toBeGreaterThan(1_048_576 - 1_200);
    }
  });

  it('rejects a record that cannot fit even alone, with a typed error, leaving pending records alone', () => {
    const maxBytes = 1_000;
    const aggregator = new RecordAggregator({ maxBytes });
    aggregator.add({ partitionKey: 'p', data: 'pending' });
    const before = aggregator.size;
    const key = 'ключ'; // 8 bytes
    // Raw, a record may use all of maxBytes: data plus its key.
    const exact = aggregator.add({ partitionKey: key, data: new Uint8Array(maxBytes - 8) });
    expect(exact?.count).toBe(1);
    expect(kinesisSize(aggregator.flush() as AggregatedRecord)).toBe(maxBytes);

    aggregator.add({ partitionKey: 'p', data: 'pending' });
    let caught: unknown;
    try {
      aggregator.add({ partitionKey: key, data: new Uint8Array(maxBytes - 7) });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(RecordTooLargeError);
    expect(caught).toMatchObject({
      code: 'RECORD_TOO_LARGE',
      retriable: false,
      size: maxBytes + 1,
      maxBytes,
    });
    expect(aggregator.count).toBe(1);
    expect(aggregator.size).toBe(before);

    // Without raw emission the framed size is what must fit.
    const framed = new RecordAggregator({ maxBytes, emitSingleRecordRaw: false });
    let length = 0;
    while (oracleSize([{ partitionKey: key, data: new Uint8Array(length + 1) }]) <= maxBytes) length++;
    const limit = { partitionKey: key, data: new Uint8Array(length) };
    expect(framed.add(limit)).toBeUndefined();
    expect(framed.size).toBe(oracleSize([limit]));
    expect(framed.size).toBeGreaterThan(maxBytes - 2);
    framed.flush();
    expect(() => framed.add({ ...limit, data: new Uint8Array(length + 1) })).toThrow(RecordTooLargeError);
  });

  it('emits a lone record raw, or framed on request, and always frames data that looks aggregated', () => {
    const data = new Uint8Array([1, 2, 3]);
    const raw = new RecordAggregator();
    raw.add({ partitionKey: 'pk', explicitHashKey: '99', data });
    expect(raw.flush()).toEqual({ partitionKey: 'pk', explicitHashKey: '99', data, count: 1 });

    const framed = new RecordAggregator({ emitSingleRecordRaw: false });
    framed.add({ partitionKey: 'pk', data });
    const out = framed.flush();
    expect(out?.partitionKey).toBe('a');
    expect(isAggregated(out?.data ?? data)).toBe(true);

    const lookalike = frame(new Uint8Array([0x0a, 0x01, 0x61]));
    raw.add({ partitionKey: 'pk', data: lookalike });
    const wrapped = raw.flush();
    expect(wrapped?.partitionKey).toBe('a');
    expect(Buffer.from(wrapped?.data ?? []).includes(lookalike)).toBe(true);
  });

  it('respects maxRecords', () => {
    const aggregator = new RecordAggregator({ maxRecords: 3 });
    const counts: number[] = [];
    for (let i = 0; i < 10; i++) {
      const done = aggregator.add({ partitionKey: `k${i}`, data: 'x' });
      if (done) counts.push(done.count);
    }
    counts.push(aggregator.flush()?.count ?? 0);
    expect(counts).toEqual([3, 3, 3, 1]);
    expect(aggregator.flush()).toBeUndefined();
  });

  it('validates options and records with typed errors', () => {
    for (const options of [
      { maxBytes: 63 },
      { maxBytes: 10_485_761 },
      { maxBytes: 1.5 },
      { maxRecords: 0 },
    ]) {
      expect(() => new RecordAggregator(options)).toThrow(InvalidOptionsError);
    }
    const aggregator = new RecordAggregator();
    aggregator.add({ partitionKey: 'ok', data: 'x' });
    expect(() => aggregator.add({ partitionKey: '', data: 'x' })).toThrow(InvalidRecordError);
    expect(() => aggregator.add({ partitionKey: 'x'.repeat(257), data: 'x' })).toThrow(InvalidRecordError);
    expect(() =>
      aggregator.add({ partitionKey: 'k', explicitHashKey: '1'.repeat(1_000_000), data: 'x' }),
    ).toThrow(InvalidHashKeyError);
    expect(() => aggregator.add({ partitionKey: 'k', explicitHashKey: '-1', data: 'x' })).toThrow(
      InvalidHashKeyError,
    );
    expect(() => aggregator.add({ partitionKey: 'k', data: 5 as unknown as string })).toThrow(
      InvalidRecordError,
    );
    expect(aggregator.count).toBe(1);
  });
});
