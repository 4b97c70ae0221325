// The decoding fast paths: key table strings (ASCII through Node, multi-byte through our own UTF-8 decoder,
// anything invalid back through Node), records in the KPL's own layout, and record bounds beyond the kept
// scratch. Each must give exactly what the general path gives.
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deaggregate } from '../src/index.js';
import { decodeValidUtf8, KeyTextDecoder } from '../src/keyText.js';
import { frame } from './protobuf.js';
import { lengthDelimited, record } from './wire.js';

const utf8 = (text: string): number[] => [...Buffer.from(text, 'utf8')];
const sdk = (data: Uint8Array) => ({ Data: data, PartitionKey: 'outer', SequenceNumber: '1' });

// Byte sequences that stress the UTF-8 edge cases: overlong forms, surrogates, beyond U+10FFFF, truncation,
// stray continuation bytes, next to valid characters of each length.
const fragments = fc.constantFrom(
  [0x41],
  [0x7f],
  [0xc3, 0xa9],
  [0xe4, 0xb8, 0xad],
  [0xf0, 0x9f, 0x98, 0x80],
  [0xef, 0xbf, 0xbf],
  [0xf4, 0x8f, 0xbf, 0xbf],
  [0xed, 0x9f, 0xbf],
  [0xee, 0x80, 0x80],
  [0x80],
  [0xbf],
  [0xc0, 0x80],
  [0xc1, 0xbf],
  [0xc2],
  [0xe0, 0x80, 0x80],
  [0xe0, 0x9f, 0xbf],
  [0xe4, 0xb8],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xf0, 0x80, 0x80, 0x80],
  [0xf0, 0x8f, 0xbf, 0xbf],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf5, 0x80, 0x80, 0x80],
  [0xf0, 0x9f, 0x98],
  [0xff],
  [0xfe],
);
const anyBytes = fc
  .array(fc.oneof(fragments, fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 4 })), { maxLength: 12 })
  .map((parts) => parts.flat());

describe('decodeValidUtf8', () => {
  it('decodes any valid UTF-8 exactly as Buffer#toString does', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (text) => {
        const bytes = Buffer.from(text, 'utf8');
        expect(decodeValidUtf8(bytes, 0, bytes.length)).toBe(bytes.toString('utf8'));
      }),
      { numRuns: 300 },
    );
  });

  it('declines exactly the invalid sequences, so that Node decodes those as before', () => {
    fc.assert(
      fc.property(anyBytes, (list) => {
        const bytes = Buffer.from(list);
        const text = decodeValidUtf8(bytes, 0, bytes.length);
        if (isUtf8(bytes)) expect(text).toBe(bytes.toString('utf8'));
        else expect(text).toBeUndefined();
      }),
      { numRuns: 5000 },
    );
  });

  it('decides on the key alone, whatever bytes follow it in the buffer (its branch-free steps read past end)', () => {
    // Valid and invalid keys followed by up to six bytes: continuation bytes that would complete a truncated
    // sequence, leads, ASCII. The key's verdict and string must not depend on them.
    const after = fc.array(fc.constantFrom(0x80, 0x8f, 0x9f, 0xbf, 0xc3, 0xe4, 0xf0, 0x41, 0x00), {
      maxLength: 6,
    });
    fc.assert(
      fc.property(
        fc.oneof(anyBytes, fc.string({ unit: 'binary', maxLength: 40 }).map(utf8)),
        after,
        (key, tail) => {
          const bytes = Buffer.from([0x23, ...key, ...tail]);
          const text = decodeValidUtf8(bytes, 1, 1 + key.length);
          const alone = Buffer.from(key);
          if (isUtf8(alone)) expect(text).toBe(alone.toString('utf8'));
          else expect(text).toBeUndefined();
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('decodes random mixes of 1- to 4-byte characters, at every offset of a view into a larger buffer', () => {
    const alphabet = [
      'a',
      'é',
      'ß',
      'ж',
      'ם',
      '中',
      'キ',
      '한',
      '€',
      '\uffff',
      '😀',
      '🚀',
      '\u{10ffff}',
      '\u0080',
    ];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...alphabet), { maxLength: 40 }), fc.nat(7), (chars, shift) => {
        const text = chars.join('');
        const encoded = Buffer.from(text, 'utf8');
        const backing = Buffer.alloc(encoded.length + 16, 0xbf);
        encoded.copy(backing, shift);
        // A Buffer that starts inside its ArrayBuffer, as pooled Buffers do.
        const bytes = backing.subarray(shift > 0 ? 1 : 0);
        const start = shift > 0 ? shift - 1 : 0;
        expect(decodeValidUtf8(bytes, start, start + encoded.length)).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });

  it('gives Latin-1, two-byte and astral keys, and keys longer than its scratch, the same strings', () => {
    for (const text of [
      'plain',
      'é',
      'straße',
      'жλם',
      '中文キ한€',
      '😀🚀x',
      'é'.repeat(600),
      '中'.repeat(400),
    ]) {
      const bytes = Buffer.from(`..${text}..`, 'utf8');
      const decoded = decodeValidUtf8(bytes, 2, bytes.length - 2);
      if (bytes.length - 4 > 1024) expect(decoded).toBeUndefined();
      else expect(decoded).toBe(text);
    }
  });
});

describe('KeyTextDecoder', () => {
  it('decodes every key of a table as Buffer#toString does, whichever mode it is in', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(anyBytes, fc.string({ unit: 'binary' })), { maxLength: 12 }), (keys) => {
        const decoder = new KeyTextDecoder();
        for (const key of keys) {
          const bytes =
            typeof key === 'string' ? Buffer.from(`#${key}`, 'utf8') : Buffer.from([0x23, ...key]);
          expect(decoder.decode(bytes, 1, bytes.length)).toBe(bytes.toString('utf8', 1));
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('KeyTextDecoder.checkRun', () => {
  // Keys laid out as the KPL lays out a key table: tag, one-byte length, key; the last key ends the buffer.
  const layout = (keys: number[][]) => {
    const bytes: number[] = [];
    const bounds: [number, number][] = [];
    for (const key of keys) {
      bytes.push(0x0a, key.length);
      bounds.push([bytes.length, bytes.length + key.length]);
      bytes.push(...key);
    }
    return { bytes: Buffer.from(bytes), bounds };
  };
  const validKey = fc.string({ unit: 'binary', maxLength: 30 }).map(utf8);
  const asciiKey = fc.string({ maxLength: 30 }).map(utf8);

  it('decodes the keys of an ASCII, a valid UTF-8 or an invalid run as Buffer#toString does', () => {
    const runs = fc.oneof(
      fc.array(asciiKey, { minLength: 1, maxLength: 10 }),
      fc.array(validKey, { minLength: 1, maxLength: 10 }),
      fc.array(fc.oneof(validKey, anyBytes), { minLength: 1, maxLength: 10 }),
    );
    fc.assert(
      fc.property(runs, fc.boolean(), (keys, reset) => {
        const { bytes, bounds } = layout(keys.filter((key) => key.length < 0x80));
        if (bounds.length === 0) return;
        const decoder = new KeyTextDecoder();
        decoder.checkRun(bytes, (bounds[0] as [number, number])[0], bytes.length);
        // A reset forgets the run: the keys then go the per-key way, with the same result.
        if (reset) decoder.reset();
        for (const [start, end] of bounds) {
          expect(decoder.decode(bytes, start, end)).toBe(bytes.toString('utf8', start, end));
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('applies a run only to its own buffer and range', () => {
    const { bytes, bounds } = layout([utf8('中文'), utf8('ascii'), utf8('€')]);
    const decoder = new KeyTextDecoder();
    // Checked from the second key on: ASCII only, yet the keys outside it must still decode as UTF-8.
    decoder.checkRun(bytes, (bounds[1] as [number, number])[0], (bounds[1] as [number, number])[1]);
    for (const [start, end] of bounds)
      expect(decoder.decode(bytes, start, end)).toBe(bytes.toString('utf8', start, end));
    const other = Buffer.from(bytes);
    other.write('é', (bounds[1] as [number, number])[0], 'utf8');
    const [start, end] = bounds[1] as [number, number];
    expect(decoder.decode(other, start, end)).toBe(other.toString('utf8', start, end));
  });
});

describe('deaggregate key tables and records', () => {
  it('decodes ASCII, multi-byte and invalid keys, each shared by several records, as before', () => {
    const invalid = [0x6b, 0xe4, 0xb8, 0x41, 0xc0, 0xaf, 0xed, 0xa0, 0x80]; // truncated, overlong, surrogate
    const keys: (string | number[])[] = [
      'ascii-0',
      '中文-1',
      'straße',
      invalid,
      '😀',
      'ascii-5',
      'x'.repeat(256),
    ];
    const body: number[] = [];
    for (const key of keys) body.push(...lengthDelimited(1, key));
    const expected: string[] = keys.map((key) =>
      typeof key === 'string' ? key : Buffer.from(key).toString('utf8'),
    );
    for (let i = 0; i < 3 * keys.length; i++) body.push(...record(i % keys.length, `d${i}`));
    const records = deaggregate(sdk(frame(new Uint8Array(body))), { strict: true });
    expect(records.map((r) => r.partitionKey)).toEqual(
      Array.from({ length: 3 * keys.length }, (_, i) => expected[i % keys.length]),
    );
    expect(records[3]?.partitionKey).toContain('\ufffd');
    // Records that share a table entry share its string.
    expect(records[1]?.partitionKey).toBe(records[1 + keys.length]?.partitionKey);
  });

  it('decodes runs of key fields checked for ASCII at once exactly as Buffer#toString does', () => {
    // Runs of keys in both tables, broken by keys of 128 bytes or more (two-byte lengths), holding now and
    // then a multi-byte or invalid key (the whole run then goes the per-key way), and records in between.
    const key = fc.oneof(
      {
        weight: 6,
        arbitrary: fc
          .string({
            unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
            maxLength: 140,
          })
          .map(utf8),
      },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }).map(utf8) },
      { weight: 1, arbitrary: anyBytes },
    );
    const field = fc.record({ table: fc.constantFrom(1, 2), key, recordAfter: fc.boolean() });
    fc.assert(
      fc.property(fc.array(field, { minLength: 1, maxLength: 30 }), (fields) => {
        const body: number[] = [];
        const tables: number[][][] = [[], []];
        for (const { table, key: bytes, recordAfter } of fields) {
          body.push(...lengthDelimited(table, bytes));
          (tables[table - 1] as number[][]).push(bytes);
          if (recordAfter) body.push(...record(0, 'x'));
        }
        const partitionKeys = tables[0] as number[][];
        const hashKeys = tables[1] as number[][];
        if (partitionKeys.length === 0) {
          partitionKeys.push([0x70]);
          body.push(...lengthDelimited(1, [0x70]));
        }
        // One record per table entry, explicit hash keys taken from their table in turn.
        for (let i = 0; i < partitionKeys.length; i++) {
          body.push(...record(i, 'd', hashKeys.length > 0 ? i % hashKeys.length : undefined));
        }
        const records = deaggregate(sdk(frame(new Uint8Array(body))), { verifyChecksum: false });
        const decoded = records.slice(-partitionKeys.length);
        expect(decoded.map((r) => r.partitionKey)).toEqual(
          partitionKeys.map((k) => Buffer.from(k).toString('utf8')),
        );
        expect(decoded.map((r) => r.explicitHashKey)).toEqual(
          partitionKeys.map((_, i) =>
            hashKeys.length > 0
              ? Buffer.from(hashKeys[i % hashKeys.length] as number[]).toString('utf8')
              : undefined,
          ),
        );
      }),
      { numRuns: 1500 },
    );
  });

  it('reads indexes and data lengths of every varint size in the KPL layout, and falls back past them', () => {
    const body: number[] = [...lengthDelimited(1, 'pk'), ...lengthDelimited(2, '7')];
    const sizes = [0, 1, 127, 128, 300, 16_383, 16_384, 70_000];
    for (const size of sizes) body.push(...record(0, 'z'.repeat(size), size % 2 === 0 ? 0 : undefined));
    const records = deaggregate(sdk(frame(new Uint8Array(body))), { strict: true });
    expect(records.map((r) => r.data.length)).toEqual(sizes);
    expect(records.map((r) => r.explicitHashKey)).toEqual(sizes.map((s) => (s % 2 === 0 ? '7' : undefined)));
    // Indexes outside the table, of 2 to 5 varint bytes (5 is past the layout path): rejected as before.
    for (const index of [200, 2 ** 21, 2 ** 28]) {
      const bad = frame(new Uint8Array([...lengthDelimited(1, 'pk'), ...record(index, 'x')]));
      expect(deaggregate(sdk(bad))[0]?.aggregationError).toBe('decode');
    }
  });

  it('decodes aggregates with more records than the kept bounds scratch, before and after smaller ones', () => {
    const small = frame(new Uint8Array([...lengthDelimited(1, 'k'), ...record(0, 'a'), ...record(0, 'b')]));
    const count = 100_000;
    const body: number[] = [...lengthDelimited(1, 'k')];
    const one = record(0, 'x');
    for (let i = 0; i < count; i++) body.push(...one);
    const large = frame(new Uint8Array(body));
    for (const data of [small, large, small, large]) {
      const records = deaggregate(sdk(data), { strict: true });
      expect(records.length).toBe(data === large ? count : 2);
      expect(records.at(-1)?.subSequenceNumber).toBe(records.length - 1);
      expect(records.every((r) => r.partitionKey === 'k' && r.data.length === 1)).toBe(true);
    }
  });
});
