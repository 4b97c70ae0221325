import {
  AggregationFormatError,
  ChecksumMismatchError,
  describeValue,
  InvalidOptionsError,
  InvalidRecordError,
} from './errors.js';
import type { DecodedRecord } from './format.js';
import * as format from './format.js';
import { parseHashKey, partitionKeyHash, resolveHashKeyRange } from './hashKey.js';
import type {
  AggregationErrorKind,
  DeaggregateOptions,
  DeaggregationResult,
  KinesisRecordInput,
  LambdaKinesisRecordPayload,
  ParsedHashKeyRange,
  SdkKinesisRecord,
  UserRecord,
} from './types.js';

// Bound once: transpiling loaders (tsx, vitest) turn imported bindings into getters, a cost on every call.
const {
  checksumMatches,
  DIGEST_BYTES,
  decodeAggregate,
  decodeCanonicalRecord,
  decodeRecord,
  FormatFailure,
  isAggregated,
  MAGIC,
} = format;

/**
 * The user records of one Kinesis record, in order: the aggregate's user records, or the record itself if
 * it is not an aggregate. See {@link DeaggregateOptions} for checksum, hash range and strictness; user
 * records outside `hashKeyRange` are returned flagged `outOfRange: true` unless `outOfRange` says otherwise.
 * @throws InvalidRecordError if the record has no data; InvalidHashKeyError for an invalid `hashKeyRange`;
 * InvalidOptionsError for an unknown `outOfRange`; in `strict` mode also ChecksumMismatchError and
 * AggregationFormatError.
 */
export function deaggregate(record: KinesisRecordInput, options?: DeaggregateOptions): UserRecord[] {
  return deaggregateWithStats(record, options).records;
}

/** {@link deaggregate} for many Kinesis records, flattened in order. */
export function deaggregateAll(
  records: Iterable<KinesisRecordInput>,
  options?: DeaggregateOptions,
): UserRecord[] {
  const out: UserRecord[] = [];
  for (const record of records) {
    for (const user of deaggregateWithStats(record, options).records) out.push(user);
  }
  return out;
}

interface NormalizedRecord {
  bytes: Buffer;
  partitionKey: string;
  sequenceNumber: string;
  approximateArrivalTimestamp: Date | undefined;
}

// Reused for every decoded Record: decoding fills it, nothing escapes.
const scratch: DecodedRecord = { partitionKeyIndex: 0, explicitHashKeyIndex: -1, dataStart: 0, dataEnd: 0 };

// `outOfRange` policies, as numbers for the per-record test.
const KEEP = 0;
const FLAG = 1;
const DROP = 2;

function policyOf(outOfRange: unknown): number {
  if (outOfRange === 'flag') return FLAG;
  if (outOfRange === 'drop') return DROP;
  if (outOfRange === 'keep') return KEEP;
  throw new InvalidOptionsError(
    `outOfRange must be 'keep', 'flag' or 'drop', got ${describeValue(outOfRange)}`,
  );
}

/**
 * {@link deaggregate}, also counting the user records that lay outside `hashKeyRange` (`outOfRange`) and
 * those of them left out (`droppedOutOfRange`, with `outOfRange: 'drop'`).
 */
export function deaggregateWithStats(
  record: KinesisRecordInput,
  options: DeaggregateOptions = {},
): DeaggregationResult {
  const { verifyChecksum = true, strict = false, hashKeyRange, outOfRange = 'flag' } = options;
  // Both checked on every call, before the record is looked at: a bad option is always the caller's error,
  // never a pass-through, and never hidden by a record that happens not to need it.
  const policy = policyOf(outOfRange);
  const range = hashKeyRange === undefined ? undefined : resolveHashKeyRange(hashKeyRange);
  const input = normalize(record);
  const { bytes } = input;
  if (!isAggregated(bytes)) return whole(ordinary(input, undefined));
  if (verifyChecksum && !checksumMatches(bytes)) {
    if (strict) throw new ChecksumMismatchError();
    return whole(ordinary(input, 'checksum'));
  }
  try {
    const records = decodeUserRecords(input, range, policy);
    return { records, outOfRange: counts.outOfRange, droppedOutOfRange: counts.dropped };
  } catch (error) {
    if (!(error instanceof FormatFailure)) throw error;
    if (strict) throw new AggregationFormatError(error.message, error.offset);
    return whole(ordinary(input, 'decode'));
  }
}

/** The result for a record passed through whole: never judged against the range. */
function whole(record: UserRecord): DeaggregationResult {
  return { records: [record], outOfRange: 0, droppedOutOfRange: 0 };
}

// The out-of-range counts of the last decodeUserRecords call, kept up inside its loop. Not returned in an
// object built after the loop: that code runs only once the loop is done, in on-stack-replaced code compiled
// before it ever ran, and V8 (Node 20) deoptimized the function there at the end of every aggregate.
const counts = { outOfRange: 0, dropped: 0 };

/** The user records of an aggregate; leaves the out-of-range counts in {@link counts}. */
function decodeUserRecords(
  input: NormalizedRecord,
  range: ParsedHashKeyRange | undefined,
  policy: number,
): UserRecord[] {
  const { bytes, sequenceNumber, approximateArrivalTimestamp } = input;
  const bodyStart = MAGIC.length;
  const bodyEnd = bytes.length - DIGEST_BYTES;
  const { partitionKeys, explicitHashKeys, recordBounds, recordCount } = decodeAggregate(
    bytes,
    bodyStart,
    bodyEnd,
  );
  const arrayBuffer = bytes.buffer;
  const byteOffset = bytes.byteOffset;
  // Hash keys per table entry, computed once and only when filtering.
  const partitionKeyHashes: (bigint | undefined)[] = [];
  const explicitHashKeyValues: (bigint | undefined)[] = [];
  const records: UserRecord[] = [];
  counts.outOfRange = 0;
  counts.dropped = 0;
  for (let i = 0, sub = 0; sub < recordCount; i += 2, sub++) {
    const start = recordBounds[i] as number;
    const end = recordBounds[i + 1] as number;
    if (!decodeCanonicalRecord(bytes, start, end, scratch))
      decodeRecord(bytes, start, end, bodyStart, scratch);
    const { partitionKeyIndex, explicitHashKeyIndex, dataStart, dataEnd } = scratch;
    const partitionKey = partitionKeys[partitionKeyIndex];
    if (partitionKey === undefined) {
      throw new FormatFailure('partition_key_index outside the table', start - bodyStart);
    }
    let explicitHashKey: string | undefined;
    if (explicitHashKeyIndex >= 0) {
      explicitHashKey = explicitHashKeys[explicitHashKeyIndex];
      if (explicitHashKey === undefined) {
        throw new FormatFailure('explicit_hash_key_index outside the table', start - bodyStart);
      }
    }
    let flag = false;
    if (range !== undefined) {
      let key: bigint | undefined;
      if (explicitHashKey === undefined) {
        key = partitionKeyHashes[partitionKeyIndex] ??= partitionKeyHash(partitionKey);
      } else {
        key = explicitHashKeyValues[explicitHashKeyIndex] ??= parseTableHashKey(
          explicitHashKey,
          start - bodyStart,
        );
      }
      if (key < range.start || key > range.end) {
        counts.outOfRange += 1;
        if (policy === DROP) {
          counts.dropped += 1;
          continue;
        }
        flag = policy === FLAG;
      }
    }
    const user: UserRecord = new AggregatedUserRecord(
      partitionKey,
      explicitHashKey,
      new Uint8Array(arrayBuffer, byteOffset + dataStart, dataEnd - dataStart),
      sequenceNumber,
      sub,
      approximateArrivalTimestamp,
    );
    // Set apart, as `aggregationError` is: records in range (nearly all) keep one object shape.
    if (flag) user.outOfRange = true;
    records.push(user);
  }
  return records;
}

/**
 * Builds an aggregated user record with `new` rather than an object literal. V8 tracks object literals by
 * allocation site and, seeing that every record of an aggregate survives a scavenge (they are returned
 * together), may switch the site to allocate in old space for the rest of the process: in about one process
 * in four, 64 B decoding then ran 3x slower throughout (never with --no-allocation-site-pretenuring).
 * Objects made by `new` have no allocation site. The prototype is Object.prototype, so the records are the same
 * plain objects, with the same properties in the same order, as before.
 */
const AggregatedUserRecord = function (
  this: UserRecord,
  partitionKey: string,
  explicitHashKey: string | undefined,
  data: Uint8Array,
  sequenceNumber: string,
  subSequenceNumber: number,
  approximateArrivalTimestamp: Date | undefined,
) {
  this.partitionKey = partitionKey;
  this.explicitHashKey = explicitHashKey;
  this.data = data;
  this.sequenceNumber = sequenceNumber;
  this.subSequenceNumber = subSequenceNumber;
  this.aggregated = true;
  this.approximateArrivalTimestamp = approximateArrivalTimestamp;
} as unknown as new (
  partitionKey: string,
  explicitHashKey: string | undefined,
  data: Uint8Array,
  sequenceNumber: string,
  subSequenceNumber: number,
  approximateArrivalTimestamp: Date | undefined,
) => UserRecord;
AggregatedUserRecord.prototype = Object.prototype;

function parseTableHashKey(value: string, at: number): bigint {
  try {
    return parseHashKey(value);
  } catch {
    throw new FormatFailure('explicit hash key is not a decimal 128-bit integer', at);
  }
}

function ordinary(input: NormalizedRecord, aggregationError: AggregationErrorKind | undefined): UserRecord {
  const user: UserRecord = {
    partitionKey: input.partitionKey,
    explicitHashKey: undefined,
    data: input.bytes,
    sequenceNumber: input.sequenceNumber,
    subSequenceNumber: 0,
    aggregated: false,
    approximateArrivalTimestamp: input.approximateArrivalTimestamp,
  };
  if (aggregationError !== undefined) user.aggregationError = aggregationError;
  return user;
}

function normalize(record: KinesisRecordInput): NormalizedRecord {
  if (typeof record !== 'object' || record === null) throw new InvalidRecordError('record must be an object');
  if ('Data' in record || 'PartitionKey' in record || 'SequenceNumber' in record) {
    return normalizeSdk(record as SdkKinesisRecord);
  }
  const lambda = record as LambdaKinesisRecordPayload;
  if (typeof lambda.data !== 'string') throw new InvalidRecordError('record has no data');
  const seconds = lambda.approximateArrivalTimestamp;
  return {
    // One allocation the size of the decoded input; every user record's data is a view into it.
    bytes: Buffer.from(lambda.data, 'base64'),
    partitionKey: lambda.partitionKey ?? '',
    sequenceNumber: lambda.sequenceNumber ?? '',
    approximateArrivalTimestamp:
      typeof seconds === 'number' ? new Date(Math.round(seconds * 1000)) : undefined,
  };
}

function normalizeSdk(record: SdkKinesisRecord): NormalizedRecord {
  const data = record.Data;
  if (!(data instanceof Uint8Array)) throw new InvalidRecordError('record has no Data');
  return {
    // A Buffer view of the same memory (no copy), for its string decoding.
    bytes: Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength),
    partitionKey: record.PartitionKey ?? '',
    sequenceNumber: record.SequenceNumber ?? '',
    approximateArrivalTimestamp: record.ApproximateArrivalTimestamp,
  };
}
