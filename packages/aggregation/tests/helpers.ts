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

/** A deterministic PRNG (mulberry32), so fuzz runs are reproducible from their seed. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Bytes Kinesis counts for a record: data plus UTF-8 partition key. */
export function kinesisSize(record: AggregatedRecord): number {
  return record.data.length + utf8Length(record.partitionKey);
}

export function bytesOf(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'utf8'));
}
