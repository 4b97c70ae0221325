import type { UserRecord } from '@shardline/aggregation';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** One line of `shardline tail` output. Field order is stable; optional fields appear only when set. */
export interface RecordLine {
  shard: string;
  partitionKey: string;
  explicitHashKey?: string;
  sequenceNumber: string;
  subSequenceNumber: number;
  aggregated: boolean;
  arrival: string | null;
  /** `utf8` when the payload is valid UTF-8 (then `data` is that text), else `base64`. */
  encoding: 'utf8' | 'base64';
  data: string;
  /** The user record's hash key is outside the shard's range (an aggregate that spans a reshard). */
  outOfRange?: true;
  /** It carried the aggregation magic but failed its MD5 (`checksum`) or did not decode (`decode`). */
  aggregationError?: string;
}

/** A de-aggregated user record as one JSON line (without the newline). */
export function formatRecordLine(shardId: string, record: UserRecord): string {
  let data: string;
  let encoding: RecordLine['encoding'] = 'utf8';
  try {
    data = utf8.decode(record.data);
  } catch {
    encoding = 'base64';
    data = Buffer.from(record.data.buffer, record.data.byteOffset, record.data.byteLength).toString('base64');
  }
  const line: RecordLine = {
    shard: shardId,
    partitionKey: record.partitionKey,
    ...(record.explicitHashKey ? { explicitHashKey: record.explicitHashKey } : {}),
    sequenceNumber: record.sequenceNumber,
    subSequenceNumber: record.subSequenceNumber,
    aggregated: record.aggregated,
    arrival: record.approximateArrivalTimestamp?.toISOString() ?? null,
    encoding,
    data,
    ...(record.outOfRange ? { outOfRange: true as const } : {}),
    ...(record.aggregationError ? { aggregationError: record.aggregationError } : {}),
  };
  return JSON.stringify(line);
}
