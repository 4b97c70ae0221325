import { FRAMING_BYTES, isAggregated, isValidExplicitHashKey, utf8Length } from '@shardline/aggregation';
import { ValidationError } from './errors.js';
import type { ProducerRecord } from './types.js';

/** Kinesis partition keys are 1 to 256 characters. */
export const MAX_PARTITION_KEY_CHARS = 256;
// Framing a user record whose bytes look like an aggregate adds the magic, MD5 and protobuf overhead.
const FRAMED_OVERHEAD = FRAMING_BYTES + 64;

/** A record that passed validation, with its data as bytes. */
export interface ValidRecord {
  partitionKey: string;
  explicitHashKey: string | undefined;
  data: Uint8Array;
  /** Data plus UTF-8 partition key. */
  bytes: number;
}

const OPTION_NAME = (): string => 'maxRecordBytes';

/**
 * Checks a record the way Kinesis would, so a bad one fails at `put` and never poisons a request. Writes the
 * result into `into` when given (the producer reuses one object: `put` reads it at once). `limitName` names
 * where `maxRecordBytes` came from; it is called only for the error message, so `put` builds no string.
 */
export function validateRecord(
  record: ProducerRecord,
  maxRecordBytes: number,
  aggregation: boolean,
  into?: ValidRecord,
  limitName: () => string = OPTION_NAME,
): ValidRecord {
  if (typeof record !== 'object' || record === null) throw new ValidationError('record must be an object');
  const { partitionKey, explicitHashKey } = record;
  if (typeof partitionKey !== 'string' || partitionKey.length === 0) {
    throw new ValidationError('partitionKey must be a non-empty string');
  }
  // Counted in UTF-16 code units, as the KPL (Java `String.length()`) and the aggregation package count:
  // never more permissive than Kinesis, which counts characters.
  if (partitionKey.length > MAX_PARTITION_KEY_CHARS) {
    throw new ValidationError(`partitionKey must be at most ${MAX_PARTITION_KEY_CHARS} UTF-16 code units`);
  }
  if (
    explicitHashKey !== undefined &&
    (typeof explicitHashKey !== 'string' || !isValidExplicitHashKey(explicitHashKey))
  ) {
    throw new ValidationError(
      'explicitHashKey must be a decimal integer in 0..2^128-1 without sign or leading zeros',
    );
  }
  let data: Uint8Array;
  if (record.data instanceof Uint8Array) data = record.data;
  else if (typeof record.data === 'string') data = Buffer.from(record.data, 'utf8');
  else throw new ValidationError('data must be a Uint8Array or a string');
  const bytes = data.length + utf8Length(partitionKey);
  if (bytes > maxRecordBytes) {
    throw new ValidationError(
      `record is ${bytes} bytes (data plus partition key), above ${limitName()} ${maxRecordBytes}`,
    );
  }
  if (aggregation && bytes + FRAMED_OVERHEAD > maxRecordBytes && isAggregated(data)) {
    throw new ValidationError('record data looks like a KPL aggregate and is too large to be framed safely');
  }
  if (into === undefined) return { partitionKey, explicitHashKey, data, bytes };
  into.partitionKey = partitionKey;
  into.explicitHashKey = explicitHashKey;
  into.data = data;
  into.bytes = bytes;
  return into;
}
