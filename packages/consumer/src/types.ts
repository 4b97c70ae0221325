/** A stream as Kinesis calls take it: by name or by ARN. */
export type StreamRef = { StreamName: string } | { StreamARN: string };

/** Where a shard without a checkpoint starts. */
export type InitialPosition = 'TRIM_HORIZON' | 'LATEST' | { timestamp: Date };

/** Checkpoint values that are not sequence numbers, exactly as the KCL writes them. */
export type SentinelCheckpoint = 'TRIM_HORIZON' | 'LATEST' | 'AT_TIMESTAMP' | 'SHARD_END';

export const SENTINELS: ReadonlySet<string> = new Set([
  'TRIM_HORIZON',
  'LATEST',
  'AT_TIMESTAMP',
  'SHARD_END',
]);

/** A position inside a shard: a Kinesis sequence number plus the user record index inside an aggregate. */
export interface ExtendedSequenceNumber {
  sequenceNumber: string;
  subSequenceNumber: number;
}

/**
 * Compares two extended sequence numbers (sequence numbers as BigInt, then sub-sequence numbers).
 * Returns a negative number, 0 or a positive number.
 */
export function compareExtended(a: ExtendedSequenceNumber, b: ExtendedSequenceNumber): number {
  const x = BigInt(a.sequenceNumber);
  const y = BigInt(b.sequenceNumber);
  if (x !== y) return x < y ? -1 : 1;
  return a.subSequenceNumber - b.subSequenceNumber;
}

/** Whether a checkpoint string is a real sequence number (decimal digits) rather than a sentinel. */
export function isSequenceNumber(value: string): boolean {
  return /^\d+$/.test(value);
}

/**
 * A structured logger. Every method is optional; the default logs nothing. Messages never contain record
 * payloads or credentials.
 */
export interface Logger {
  debug?(message: string, fields?: Record<string, unknown>): void;
  info?(message: string, fields?: Record<string, unknown>): void;
  warn?(message: string, fields?: Record<string, unknown>): void;
  error?(message: string, fields?: Record<string, unknown>): void;
}
