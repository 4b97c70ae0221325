// Shared by the tests: fixture loading, a seeded PRNG, and small builders.
import { readFileSync } from 'node:fs';
import type { AggregatedRecord } from '../src/index.js';
import { utf8Length } from '../src/index.js';

export interface FixtureUserRecord {
  subSequenceNumber: number | null;
  partitionKey: string;
  explicitHashKey: string | null;
  dataUtf8: string;
}

export interface Fixture {
  name: string;
  kinesisRecord: {
    partitionKey: string;
    sequenceNumber: string;
    approximateArrivalTimestamp: number;
    shardId: string;
    data: string;
  };
  expectedUserRecords: FixtureUserRecord[];
}

export function loadFixtures(): Fixture[] {
  const path = new URL('./fixtures/kpl-records.json', import.meta.url);
  return (JSON.parse(readFileSync(path, 'utf8')) as { fixtures: Fixture[] }).fixtures;
}

/** Bytes Kinesis counts for a record: data plus UTF-8 partition key. */
export function kinesisSize(record: AggregatedRecord): number {
  return record.data.length + utf8Length(record.partitionKey);
}

export function bytesOf(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'utf8'));
}
