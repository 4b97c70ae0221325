import { describe, expect, it } from 'vitest';
import { KeyIndex } from '../src/keyIndex.js';

describe('KeyIndex', () => {
  it('finds keys whose hashes collide, across growth and clears', () => {
    const index = new KeyIndex();
    for (let round = 0; round < 2; round++) {
      const keys = Array.from({ length: 3_000 }, (_, i) => `key-${round}-${i}`);
      // Every key shares one of 3 hashes: probing and the equality check carry the work.
      keys.forEach((key, i) => {
        expect(index.find(key, i % 3)).toBe(-1);
        expect(index.insert(key, i % 3)).toBe(i);
      });
      expect(index.size).toBe(keys.length);
      keys.forEach((key, i) => {
        expect(index.find(key, i % 3)).toBe(i);
      });
      expect(index.find('absent', 0)).toBe(-1);
      // The same key with another hash is not found: callers always pass the key's own hash.
      expect(index.find('key-0-1', 5)).toBe(-1);
      index.clear();
      expect(index.size).toBe(0);
      expect(index.find(keys[0] ?? '', 0)).toBe(-1);
    }
  });
});
