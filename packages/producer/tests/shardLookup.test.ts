import { KinesisClient } from '@aws-sdk/client-kinesis';
import { partitionKeyHash } from '@shardline/aggregation';
import { describe, expect, it } from 'vitest';
import { MetricsRecorder } from '../src/metrics.js';
import { ShardMap } from '../src/routing/ShardMap.js';
import { type RouterHost, ShardRouter } from '../src/routing/ShardRouter.js';
import type { PendingRecord } from '../src/settlement/PendingRecord.js';
import type { ShardRange } from '../src/types.js';
import { pendingRecord } from './fixtures.js';

const MAX = (1n << 128n) - 1n;
// Never called: these tests only use `replace`, which needs no ListShards.
const client = new KinesisClient({
  region: 'us-east-1',
  credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
});
const mapOptions = {
  client,
  streamName: 's',
  streamARN: undefined,
  minDelayMs: 1,
  maxDelayMs: 5,
  requestTimeoutMs: 1_000,
};

// mulberry32: deterministic pseudo-random numbers, so a failure reproduces.
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

function randomKey(next: () => number): bigint {
  return (BigInt(next()) << 96n) | (BigInt(next()) << 64n) | (BigInt(next()) << 32n) | BigInt(next());
}

function words(key: bigint): Uint32Array {
  return Uint32Array.of(
    Number((key >> 96n) & 0xffffffffn),
    Number((key >> 64n) & 0xffffffffn),
    Number((key >> 32n) & 0xffffffffn),
    Number(key & 0xffffffffn),
  );
}

function shard(index: number, start: bigint, end: bigint): ShardRange {
  return {
    shardId: `shardId-${String(index).padStart(12, '0')}`,
    startingHashKey: start,
    endingHashKey: end,
  };
}

/** Contiguous shards covering 0..2^128-1, split at the given sorted cut points (each the start of a shard). */
function covering(cuts: readonly bigint[]): ShardRange[] {
  const starts = [0n, ...cuts];
  return starts.map((start, i) => shard(i, start, (starts[i + 1] ?? MAX + 1n) - 1n));
}

function even(count: number): ShardRange[] {
  const width = (MAX + 1n) / BigInt(count);
  return covering(Array.from({ length: count - 1 }, (_, i) => width * BigInt(i + 1)));
}

// Maps that stress the word comparison: bounds differing only in the lowest word, one-key shards, shards
// splitting at 2^32, 2^64, 2^96, gaps (a map that does not cover the space, as tests and reshards produce).
const maps: [string, ShardRange[]][] = [
  ['one shard', even(1)],
  ['two shards', even(2)],
  ['seven shards', even(7)],
  ['a hundred shards', even(100)],
  ['word boundaries', covering([1n, 2n, 1n << 32n, (1n << 32n) + 1n, 1n << 64n, 1n << 96n, MAX - 1n, MAX])],
  [
    'bounds differing in one word',
    covering([(5n << 96n) | 7n, (5n << 96n) | (1n << 32n), (5n << 96n) | (1n << 64n), 6n << 96n]),
  ],
  ['gaps', [shard(0, 10n, 20n), shard(1, 1n << 100n, (1n << 101n) - 1n), shard(2, MAX - 5n, MAX - 1n)]],
  ['empty', []],
];

/** What the map should answer: a linear scan. */
function owner(ranges: readonly ShardRange[], key: bigint): string | undefined {
  return ranges.find((r) => r.startingHashKey <= key && key <= r.endingHashKey)?.shardId;
}

describe('ShardMap.lookupWords', () => {
  it('answers as lookup and a linear scan at every bound, next to it, at 0, 2^128-1 and at random keys', () => {
    const next = generator(7);
    for (const [name, ranges] of maps) {
      const map = new ShardMap(mapOptions);
      map.replace([...ranges].reverse());
      const keys = [0n, 1n, MAX - 1n, MAX];
      for (const r of ranges) {
        keys.push(r.startingHashKey - 1n, r.startingHashKey, r.startingHashKey + 1n);
        keys.push(r.endingHashKey - 1n, r.endingHashKey, r.endingHashKey + 1n);
      }
      for (let i = 0; i < 500; i++) keys.push(randomKey(next));
      for (const key of keys) {
        if (key < 0n || key > MAX) continue;
        const expected = owner(ranges, key);
        expect(map.lookup(key)?.shardId, `${name}: ${key}`).toBe(expected);
        expect(map.lookupWords(words(key))?.shardId, `${name}: ${key}`).toBe(expected);
      }
    }
  });

  it('every shard of an even map owns its StartingHashKey and EndingHashKey', () => {
    const map = new ShardMap(mapOptions);
    const ranges = even(7);
    map.replace(ranges);
    for (const r of ranges) {
      expect(map.lookupWords(words(r.startingHashKey))?.shardId).toBe(r.shardId);
      expect(map.lookupWords(words(r.endingHashKey))?.shardId).toBe(r.shardId);
    }
    expect(map.lookupWords(words(0n))?.shardId).toBe(ranges[0]?.shardId);
    expect(map.lookupWords(words(MAX))?.shardId).toBe(ranges[6]?.shardId);
  });
});

describe('ShardRouter.route', () => {
  const host: RouterHost = {
    succeed: () => undefined,
    failAll: () => undefined,
    unparked: () => undefined,
    mapLoaded: () => undefined,
    mapFailed: () => undefined,
    wakeSoon: () => undefined,
    wakeAt: () => undefined,
  };
  function router(ranges: ShardRange[]): ShardRouter {
    const result = new ShardRouter(
      {
        ...mapOptions,
        recordTtlMs: 1_000,
        refreshIntervalMs: 60_000,
        reshardResend: 'outOfRange',
        recorder: new MetricsRecorder(),
      },
      host,
    );
    result.shardMap.replace(ranges);
    return result;
  }
  function record(partitionKey: string, explicitHashKey?: string): PendingRecord {
    return pendingRecord(partitionKey, new Uint8Array(0), { explicitHashKey });
  }

  it('routes partition keys (short, long, non-ASCII) to the owner of their MD5 hash key', () => {
    const keys = ['a', 'user-1', 'é😀', 'k'.repeat(55), 'k'.repeat(56), 'x'.repeat(256)];
    for (let i = 0; i < 1_000; i++) keys.push(`key-${i}`);
    for (const [name, ranges] of maps) {
      if (ranges.length === 0) continue;
      const r = router(ranges);
      for (const key of keys) {
        expect(r.route(record(key)).shardId, `${name}: ${key}`).toBe(
          owner(ranges, partitionKeyHash(key)) ?? '',
        );
      }
    }
  });

  it('routes explicit hash keys at every shard bound, 0 and 2^128-1, ignoring the partition key', () => {
    const ranges = maps.find(([name]) => name === 'word boundaries')?.[1] ?? [];
    const r = router(ranges);
    for (const range of ranges) {
      for (const key of [range.startingHashKey, range.endingHashKey]) {
        expect(r.route(record('same', key.toString())).shardId).toBe(range.shardId);
      }
    }
    expect(r.route(record('same', '0')).shardId).toBe(ranges[0]?.shardId);
    expect(r.route(record('same', MAX.toString())).shardId).toBe(ranges[ranges.length - 1]?.shardId);
  });
});
