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

/** MD5 of the UTF-8 partition key as a big-endian unsigned 128-bit integer. */
export function partitionKeyHash(partitionKey: string): bigint {
  const length = partitionKey.length;
  if (length <= SINGLE_BLOCK_MAX_BYTES && isAscii(partitionKey)) {
    loadBlockAscii(partitionKey);
    md5SingleBlock();
    return digestToBigInt();
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
    return digestToBigInt();
  }
  const digest = createHash('md5').update(bytes.subarray(0, byteLength)).digest();
  return (digest.readBigUInt64BE(0) << 64n) | digest.readBigUInt64BE(8);
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) >= 0x80) return false;
  }
  return true;
}

function byteSwap(word: number): number {
  return (((word & 0xff) << 24) | ((word & 0xff00) << 8) | ((word >>> 8) & 0xff00) | (word >>> 24)) >>> 0;
}

// MD5's digest bytes are the four state words little-endian; the hash key reads them big-endian.
function digestToBigInt(): bigint {
  return (
    (BigInt(byteSwap(digestWords[0] as number)) << 96n) |
    (BigInt(byteSwap(digestWords[1] as number)) << 64n) |
    (BigInt(byteSwap(digestWords[2] as number)) << 32n) |
    BigInt(byteSwap(digestWords[3] as number))
  );
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
