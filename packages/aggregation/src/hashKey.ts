import { createHash } from 'node:crypto';
import { describeValue, InvalidHashKeyError } from './errors.js';
import {
  digestWords,
  loadBlockAscii,
  loadBlockBytes,
  md5SingleBlock,
  SINGLE_BLOCK_MAX_BYTES,
} from './md5.js';
import type { HashKeyRangeInput, ParsedHashKeyRange } from './types.js';

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
 * @throws InvalidHashKeyError if it is not an integer in 0..2^128-1 given as one of those.
 */
export function parseHashKey(value: string | bigint): bigint {
  if (typeof value === 'bigint') {
    if (value < 0n || value > MAX_HASH_KEY) {
      throw new InvalidHashKeyError(`hash key ${describeValue(value)} is outside 0..2^128-1`);
    }
    return value;
  }
  if (typeof value !== 'string') {
    throw new InvalidHashKeyError(
      `hash key must be a decimal string or a bigint, got ${describeValue(value)}`,
    );
  }
  if (!isValidExplicitHashKey(value)) {
    throw new InvalidHashKeyError(
      `hash key ${describeValue(value)} is not a decimal integer in 0..2^128-1 without sign or leading zeros`,
    );
  }
  return BigInt(value);
}

/** A hash key as the decimal string Kinesis APIs use. */
export function hashKeyToDecimal(key: bigint): string {
  return key.toString(10);
}

/**
 * Whether `key` lies in the closed range (any shape {@link parseHashKeyRange} accepts).
 * @throws InvalidHashKeyError if the range is not valid.
 */
export function isInHashRange(key: bigint, range: HashKeyRangeInput): boolean {
  const { start, end } = resolveHashKeyRange(range);
  return key >= start && key <= end;
}

/**
 * Validates a hash key range and returns its bounds. Accepts `{ startingHashKey, endingHashKey }`, the AWS
 * SDK's `HashKeyRange` (`{ StartingHashKey, EndingHashKey }`) and an SDK `Shard` (`{ HashKeyRange }`), with
 * bounds as decimal strings (no sign, no leading zeros, as ListShards gives them) or bigints.
 * @throws InvalidHashKeyError, naming the offending value, if the range is not an object of exactly one of
 * those shapes, a bound is missing, is neither a string nor a bigint, is not an integer in 0..2^128-1, or the
 * start is above the end.
 */
export function parseHashKeyRange(range: HashKeyRangeInput): ParsedHashKeyRange {
  const { start, end } = resolveHashKeyRange(range);
  return { start, end };
}

// The last valid range, keyed by its bound values as given: a consumer passes the same range for each record
// of a shard, so most calls compare two values instead of parsing two 39-digit numbers. Written only after the
// values passed every check, so bounds equal to the cached ones are valid bounds; a mutated range object shows
// new values and is checked anew.
let cachedStart: string | bigint | undefined;
let cachedEnd: string | bigint | undefined;
let cached: ParsedHashKeyRange | undefined;

/**
 * {@link parseHashKeyRange} without the copy: the returned object may be shared between calls and must not be
 * mutated. For this package's own hot paths.
 * @internal
 */
export function resolveHashKeyRange(range: HashKeyRangeInput): ParsedHashKeyRange {
  if (typeof range !== 'object' || range === null) {
    throw new InvalidHashKeyError(`hashKeyRange must be an object, got ${describeValue(range)}`);
  }
  const ours = 'startingHashKey' in range || 'endingHashKey' in range;
  const sdk = 'StartingHashKey' in range || 'EndingHashKey' in range;
  const shard = 'HashKeyRange' in range;
  let start: unknown;
  let end: unknown;
  let names: readonly [string, string];
  if (ours && !sdk && !shard) {
    start = (range as { startingHashKey?: unknown }).startingHashKey;
    end = (range as { endingHashKey?: unknown }).endingHashKey;
    names = OUR_NAMES;
  } else if (sdk && !ours && !shard) {
    start = (range as { StartingHashKey?: unknown }).StartingHashKey;
    end = (range as { EndingHashKey?: unknown }).EndingHashKey;
    names = SDK_NAMES;
  } else if (shard && !ours && !sdk) {
    const inner: unknown = (range as { HashKeyRange?: unknown }).HashKeyRange;
    if (typeof inner !== 'object' || inner === null) {
      throw new InvalidHashKeyError(
        `hashKeyRange.HashKeyRange must be an object, got ${describeValue(inner)} (in ${describeValue(range)})`,
      );
    }
    start = (inner as { StartingHashKey?: unknown }).StartingHashKey;
    end = (inner as { EndingHashKey?: unknown }).EndingHashKey;
    names = SHARD_NAMES;
  } else {
    throw new InvalidHashKeyError(
      `hashKeyRange must have startingHashKey and endingHashKey, or StartingHashKey and EndingHashKey, or a ` +
        `Shard's HashKeyRange (exactly one of these), got ${describeValue(range)}`,
    );
  }
  if (cached !== undefined && start === cachedStart && end === cachedEnd) return cached;
  const parsedStart = parseBound(start, names[0], range);
  const parsedEnd = parseBound(end, names[1], range);
  if (parsedStart > parsedEnd) {
    throw new InvalidHashKeyError(
      `hashKeyRange starts above its end: ${names[0]} ${describeValue(start)} > ${names[1]} ` +
        `${describeValue(end)}`,
    );
  }
  const parsed = { start: parsedStart, end: parsedEnd };
  // Valid values only reach this line (undefined, numbers and objects have thrown above).
  cachedStart = start as string | bigint;
  cachedEnd = end as string | bigint;
  cached = parsed;
  return parsed;
}

const OUR_NAMES = ['startingHashKey', 'endingHashKey'] as const;
const SDK_NAMES = ['StartingHashKey', 'EndingHashKey'] as const;
const SHARD_NAMES = ['HashKeyRange.StartingHashKey', 'HashKeyRange.EndingHashKey'] as const;

function parseBound(value: unknown, name: string, range: object): bigint {
  if (value === undefined) {
    throw new InvalidHashKeyError(`hashKeyRange has no ${name}: ${describeValue(range)}`);
  }
  if (typeof value === 'bigint') {
    if (value >= 0n && value <= MAX_HASH_KEY) return value;
  } else if (typeof value === 'string') {
    if (isValidExplicitHashKey(value)) return BigInt(value);
  } else {
    throw new InvalidHashKeyError(
      `hashKeyRange ${name} must be a decimal string or a bigint, got ${describeValue(value)}`,
    );
  }
  throw new InvalidHashKeyError(
    `hashKeyRange ${name} ${describeValue(value)} is not an integer in 0..2^128-1 ` +
      '(decimal, no sign, no leading zeros)',
  );
}
