import { createHash } from 'node:crypto';

/** The largest hash key: 2^128 - 1. */
export const MAX_HASH_KEY = (1n << 128n) - 1n;
const LOW_64 = (1n << 64n) - 1n;
/** The pattern the Kinesis API gives ExplicitHashKey. */
const EXPLICIT_HASH_KEY = /^(0|[1-9]\d{0,38})$/;

/** A 128-bit hash key as 16 big-endian bytes, so routing compares bytes instead of BigInts. */
export function hashKeyBytes(value: bigint): Buffer {
  const bytes = Buffer.allocUnsafe(16);
  bytes.writeBigUInt64BE(value >> 64n, 0);
  bytes.writeBigUInt64BE(value & LOW_64, 8);
  return bytes;
}

/** The hash key Kinesis derives from a partition key: MD5 of its UTF-8 bytes, read as an unsigned integer. */
export function partitionKeyHash(partitionKey: string): Buffer {
  return createHash('md5').update(partitionKey, 'utf8').digest();
}

/** Parses an ExplicitHashKey: undefined when it is not a decimal 0..2^128-1. */
export function parseExplicitHashKey(value: string): bigint | undefined {
  if (!EXPLICIT_HASH_KEY.test(value)) return undefined;
  const key = BigInt(value);
  return key <= MAX_HASH_KEY ? key : undefined;
}

/**
 * The ranges CreateStream gives N shards: shard i starts at i * floor(2^128 / N), and each ends one before
 * the next starts; the last ends at 2^128 - 1.
 */
export function evenHashRanges(shardCount: number): Array<{ start: bigint; end: bigint }> {
  const width = (MAX_HASH_KEY + 1n) / BigInt(shardCount);
  return Array.from({ length: shardCount }, (_, i) => ({
    start: BigInt(i) * width,
    end: i === shardCount - 1 ? MAX_HASH_KEY : BigInt(i + 1) * width - 1n,
  }));
}
