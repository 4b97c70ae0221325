import { createHash } from 'node:crypto';
import { InvalidHashKeyError } from './errors.js';
import {
  digestWords,
  loadBlockAscii,
  loadBlockBytes,
  md5SingleBlock,
  SINGLE_BLOCK_MAX_BYTES,
} from './md5.js';
import type { HashKeyRange } from './types.js';

/** The largest hash key: 2^128 - 1. */
export const MAX_HASH_KEY = (1n << 128n) - 1n;

// What the Kinesis API accepts as ExplicitHashKey: `0|([1-9]\d{0,38})`.
const DECIMAL_HASH_KEY = /^(?:0|[1-9][0-9]{0,38})$/;

// UTF-8 of a key up to this many UTF-16 units always fits the scratch buffer (3 bytes per unit at most).
const SCRATCH_CHARS = 1024;
const scratch = new Uint8Array(SCRATCH_CHARS * 3);
const encoder = new TextEncoder();

/**
 * The 128-bit hash key Kinesis routes a record by: the explicit hash key if given, else MD5 of the UTF-8
 * partition key read as a big-endian unsigned integer.
 * @throws InvalidHashKeyError if `explicitHashKey` is not a decimal integer in 0..2^128-1.
 */
export function hashKey(partitionKey: string, explicitHashKey?: string): bigint {
  if (explicitHashKey !== undefined) return parseHashKey(explicitHashKey);
  return partitionKeyHash(partitionKey);
}

// The hash key of the last `digestKey` call: the 16 MD5 digest bytes, which read big-endian are the key.
const keyBytes = new Uint8Array(16);
const keyView = new DataView(keyBytes.buffer);

/** MD5 of the UTF-8 partition key as a big-endian unsigned 128-bit integer. */
export function partitionKeyHash(partitionKey: string): bigint {
  digestKey(partitionKey);
  // Two 64-bit reads make 4 BigInts per key where four 32-bit words shifted and or-ed make 10 (~half the time).
  return (keyView.getBigUint64(0) << 64n) | keyView.getBigUint64(8);
}

/**
 * {@link partitionKeyHash} without a BigInt: writes the hash key into `out[0..4)` as four unsigned 32-bit
 * words, most significant first (`out[0]` is bits 127..96). For routing many records, where comparing words
 * against shard bounds costs less than building and comparing a BigInt per record.
 */
export function partitionKeyHashWords(partitionKey: string, out: Uint32Array): void {
  digestKey(partitionKey);
  out[0] = keyView.getUint32(0);
  out[1] = keyView.getUint32(4);
  out[2] = keyView.getUint32(8);
  out[3] = keyView.getUint32(12);
}

/** Hashes the UTF-8 partition key into {@link keyBytes}. */
function digestKey(partitionKey: string): void {
  const length = partitionKey.length;
  if (length <= SINGLE_BLOCK_MAX_BYTES && loadBlockAscii(partitionKey)) {
    md5SingleBlock();
    storeDigestWords();
    return;
  }
  let bytes: Uint8Array;
  let byteLength: number;
  if (length <= SCRATCH_CHARS) {
    byteLength = encoder.encodeInto(partitionKey, scratch).written;
    bytes = scratch;
  } else {
    bytes = encoder.encode(partitionKey);
    byteLength = bytes.length;
  }
  if (byteLength <= SINGLE_BLOCK_MAX_BYTES) {
    loadBlockBytes(bytes, byteLength);
    md5SingleBlock();
    storeDigestWords();
    return;
  }
  keyBytes.set(createHash('md5').update(bytes.subarray(0, byteLength)).digest());
}

// MD5's digest bytes are its four state words little-endian (whatever the host's byte order).
function storeDigestWords(): void {
  keyView.setInt32(0, digestWords[0] as number, true);
  keyView.setInt32(4, digestWords[1] as number, true);
  keyView.setInt32(8, digestWords[2] as number, true);
  keyView.setInt32(12, digestWords[3] as number, true);
}

/** Whether `value` is a valid explicit hash key: decimal, no sign or leading zeros, at most 2^128-1. */
export function isValidExplicitHashKey(value: string): boolean {
  return DECIMAL_HASH_KEY.test(value) && (value.length < 39 || BigInt(value) <= MAX_HASH_KEY);
}

/**
 * Parses a hash key given as a decimal string (the ListShards / ExplicitHashKey form) or a bigint.
 * @throws InvalidHashKeyError if it is not an integer in 0..2^128-1.
 */
export function parseHashKey(value: string | bigint): bigint {
  if (typeof value === 'bigint') {
    if (value < 0n || value > MAX_HASH_KEY) throw new InvalidHashKeyError('hash key outside 0..2^128-1');
    return value;
  }
  if (!isValidExplicitHashKey(value)) {
    throw new InvalidHashKeyError('hash key must be a decimal integer in 0..2^128-1 without leading zeros');
  }
  return BigInt(value);
}

/** A hash key as the decimal string Kinesis APIs use. */
export function hashKeyToDecimal(key: bigint): string {
  return key.toString(10);
}

/** Whether `key` lies in the closed range `[startingHashKey, endingHashKey]`. */
export function isInHashRange(key: bigint, range: HashKeyRange): boolean {
  return key >= parseHashKey(range.startingHashKey) && key <= parseHashKey(range.endingHashKey);
}
