import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  hashKey,
  hashKeyToDecimal,
  InvalidHashKeyError,
  isInHashRange,
  isValidExplicitHashKey,
  MAX_HASH_KEY,
  parseHashKey,
  partitionKeyHash,
  partitionKeyHashWords,
} from '../src/index.js';

function reference(key: string): bigint {
  return BigInt(`0x${createHash('md5').update(key, 'utf8').digest('hex')}`);
}

function wordsOf(key: string): bigint {
  const out = new Uint32Array(4);
  partitionKeyHashWords(key, out);
  return (
    (BigInt(out[0] ?? -1) << 96n) |
    (BigInt(out[1] ?? -1) << 64n) |
    (BigInt(out[2] ?? -1) << 32n) |
    BigInt(out[3] ?? -1)
  );
}

describe('hashKey', () => {
  it('equals MD5 from node:crypto for ASCII keys of every length around the one-block limit', () => {
    for (let length = 0; length <= 130; length++) {
      const key = 'k'.repeat(length);
      expect(partitionKeyHash(key)).toBe(reference(key));
      expect(wordsOf(key)).toBe(reference(key));
    }
  });

  it('equals MD5 from node:crypto for any string (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (key) => {
        expect(partitionKeyHash(key)).toBe(reference(key));
        expect(wordsOf(key)).toBe(reference(key));
      }),
      { numRuns: 2_000 },
    );
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 60 }), (key) => {
        expect(hashKey(key)).toBe(reference(key));
      }),
      { numRuns: 2_000 },
    );
  });

  it('handles keys longer than its scratch buffer and lone surrogates as Buffer does', () => {
    for (const key of ['é'.repeat(2_000), '\ud800x', 'x\udfff', '😀'.repeat(13), '😀'.repeat(14)]) {
      expect(partitionKeyHash(key)).toBe(reference(key));
      expect(wordsOf(key)).toBe(reference(key));
    }
  });

  it('reads every digest byte right whether its top bit is set or not', () => {
    // Sign or byte-order slips show up as a wrong high bit or swapped bytes; collect keys until each of
    // the 16 digest bytes has been seen both >= 0x80 and < 0x80, so both cases are checked on every byte.
    const high = new Set<number>();
    const low = new Set<number>();
    for (let i = 0; (high.size < 16 || low.size < 16) && i < 10_000; i++) {
      const key = `key-${i}`;
      const digest = createHash('md5').update(key).digest();
      for (const [index, byte] of digest.entries()) (byte >= 0x80 ? high : low).add(index);
      expect(partitionKeyHash(key)).toBe(reference(key));
      expect(wordsOf(key)).toBe(reference(key));
    }
    expect(high.size).toBe(16);
    expect(low.size).toBe(16);
  });

  it('returns the explicit hash key when one is given', () => {
    expect(hashKey('ignored', '0')).toBe(0n);
    expect(hashKey('ignored', MAX_HASH_KEY.toString())).toBe(MAX_HASH_KEY);
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: MAX_HASH_KEY }), (value) => {
        expect(hashKey('pk', hashKeyToDecimal(value))).toBe(value);
      }),
    );
  });

  it('rejects explicit hash keys Kinesis would reject, with a typed error', () => {
    for (const bad of ['', '-1', '01', '1.5', ' 1', '0x10', (MAX_HASH_KEY + 1n).toString(), '9'.repeat(40)]) {
      expect(isValidExplicitHashKey(bad)).toBe(false);
      expect(() => hashKey('pk', bad)).toThrow(InvalidHashKeyError);
    }
    expect(() => parseHashKey(-1n)).toThrow(InvalidHashKeyError);
    expect(() => parseHashKey(MAX_HASH_KEY + 1n)).toThrow(InvalidHashKeyError);
    try {
      parseHashKey('x');
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({ code: 'INVALID_HASH_KEY', retriable: false });
    }
  });

  it('checks closed ranges given as strings or bigints', () => {
    const range = { startingHashKey: '10', endingHashKey: 20n };
    expect(isInHashRange(9n, range)).toBe(false);
    expect(isInHashRange(10n, range)).toBe(true);
    expect(isInHashRange(20n, range)).toBe(true);
    expect(isInHashRange(21n, range)).toBe(false);
  });
});
