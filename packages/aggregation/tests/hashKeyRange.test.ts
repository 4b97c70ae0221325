import { createHash } from 'node:crypto';
import type { HashKeyRange as SdkHashKeyRangeType, Shard } from '@aws-sdk/client-kinesis';
import fc from 'fast-check';
import { describe, expect, expectTypeOf, it, vi } from 'vitest';
import {
  deaggregate,
  deaggregateWithStats,
  type HashKeyRangeInput,
  InvalidHashKeyError,
  isInHashRange,
  MAX_HASH_KEY,
  type OutOfRangePolicy,
  type ParsedHashKeyRange,
  parseHashKeyRange,
  RecordAggregator,
  type SdkKinesisRecord,
} from '../src/index.js';
import { loadFixtures } from './helpers.js';

const MAX = MAX_HASH_KEY.toString();

/** One aggregate of the given user records, as GetRecords returns it. */
function aggregateOf(users: { partitionKey: string; explicitHashKey?: string }[]): SdkKinesisRecord {
  const aggregator = new RecordAggregator({ emitSingleRecordRaw: false });
  for (const user of users) aggregator.add({ ...user, data: user.partitionKey });
  const aggregate = aggregator.flush();
  if (!aggregate) throw new Error('nothing aggregated');
  return { Data: aggregate.data, PartitionKey: aggregate.partitionKey, SequenceNumber: '1' };
}

/** A user record's hash key, computed here independently of the package (node:crypto). */
function modelHashKey(user: { partitionKey: string; explicitHashKey?: string }): bigint {
  if (user.explicitHashKey !== undefined) return BigInt(user.explicitHashKey);
  return BigInt(`0x${createHash('md5').update(user.partitionKey, 'utf8').digest('hex')}`);
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('did not throw');
}

const fiveUsers = Array.from({ length: 5 }, (_, i) => ({ partitionKey: `user-${i}` }));

describe('hash key ranges (issue 15)', () => {
  it('the first range a process sees is validated too (no cache before validation)', async () => {
    vi.resetModules();
    const fresh = await import('../src/index.js');
    const record = aggregateOf(fiveUsers);
    // Before the fix, undefined bounds matched the empty cache and parsed as [0, 0]: all dropped, no error.
    expect(() => fresh.deaggregate(record, { hashKeyRange: {} })).toThrow(fresh.InvalidHashKeyError);
    vi.resetModules();
    const fresh2 = await import('../src/index.js');
    expect(() => fresh2.parseHashKeyRange({ startingHashKey: undefined } as never)).toThrow(
      /no endingHashKey|no startingHashKey/,
    );
  });

  it("takes the SDK's HashKeyRange and Shard as they are: 5 of 5 user records kept", () => {
    const record = aggregateOf(fiveUsers);
    const shard = {
      ShardId: 'shardId-000000000000',
      HashKeyRange: { StartingHashKey: '0', EndingHashKey: MAX },
      SequenceNumberRange: { StartingSequenceNumber: '1' },
    };
    for (const hashKeyRange of [
      shard.HashKeyRange,
      shard,
      { startingHashKey: 0n, endingHashKey: MAX_HASH_KEY },
    ]) {
      const result = deaggregateWithStats(record, { hashKeyRange, outOfRange: 'drop' });
      expect(result.records.map((r) => r.partitionKey)).toEqual(fiveUsers.map((u) => u.partitionKey));
      expect(result).toMatchObject({ outOfRange: 0, droppedOutOfRange: 0 });
      expect(result.records.some((r) => r.outOfRange)).toBe(false);
    }
    // A half range in the SDK's spelling judges exactly as ours does.
    const half = ((1n << 127n) - 1n).toString();
    const ours = deaggregate(record, { hashKeyRange: { startingHashKey: '0', endingHashKey: half } });
    const sdks = deaggregate(record, { hashKeyRange: { StartingHashKey: '0', EndingHashKey: half } });
    const shards = deaggregate(record, {
      hashKeyRange: { HashKeyRange: { StartingHashKey: '0', EndingHashKey: half } },
    });
    expect(sdks).toEqual(ours);
    expect(shards).toEqual(ours);
    expect(ours.map((r) => r.outOfRange === true)).toEqual(
      fiveUsers.map((u) => modelHashKey(u) > BigInt(half)),
    );
  });

  it('judges the user records of a real KPL aggregate whose keys span four shards', () => {
    // The KPL's test vector with explicit hash keys: four user records at about 11%, 57%, 78% and 100% of the
    // key space, in one aggregate. Against each quarter of an evenly split 4-shard stream, given as the SDK's
    // Shard, each record is inside exactly one.
    const fixture = loadFixtures().find((f) => f.name === 'kpl-with-explicit-hash-keys');
    if (!fixture) throw new Error('fixture missing');
    const payload = {
      data: fixture.kinesisRecord.data,
      partitionKey: fixture.kinesisRecord.partitionKey,
      sequenceNumber: fixture.kinesisRecord.sequenceNumber,
    };
    const quarter = 1n << 126n;
    const keys = fixture.expectedUserRecords.map((u) => BigInt(u.explicitHashKey ?? '-1'));
    const insideCounts = [0, 0, 0, 0];
    for (let s = 0n; s < 4n; s++) {
      const shard = {
        ShardId: `shardId-00000000000${s}`,
        HashKeyRange: {
          StartingHashKey: (s * quarter).toString(),
          EndingHashKey: ((s + 1n) * quarter - 1n).toString(),
        },
      };
      const inside = keys.map((k) => k >= s * quarter && k < (s + 1n) * quarter);
      const flagged = deaggregateWithStats(payload, { hashKeyRange: shard });
      expect(flagged.records.map((r) => r.outOfRange === true)).toEqual(inside.map((x) => !x));
      expect(flagged).toMatchObject({ outOfRange: inside.filter((x) => !x).length, droppedOutOfRange: 0 });
      const dropped = deaggregate(payload, { hashKeyRange: shard, outOfRange: 'drop' });
      expect(dropped.map((r) => r.subSequenceNumber)).toEqual(inside.flatMap((x, i) => (x ? [i] : [])));
      inside.forEach((x, i) => {
        if (x) insideCounts[i] = (insideCounts[i] ?? 0) + 1;
      });
    }
    expect(insideCounts).toEqual([1, 1, 1, 1]);
  });

  it('throws for {} and for an inverted range instead of dropping every record', () => {
    const record = aggregateOf(fiveUsers);
    const empty = thrown(() => deaggregate(record, { hashKeyRange: {} }));
    expect(empty).toBeInstanceOf(InvalidHashKeyError);
    expect(empty).toMatchObject({ code: 'INVALID_HASH_KEY', retriable: false });
    expect((empty as Error).message).toContain('{}');
    const inverted = thrown(() =>
      deaggregate(record, { hashKeyRange: { StartingHashKey: '10', EndingHashKey: '9' } }),
    );
    expect(inverted).toBeInstanceOf(InvalidHashKeyError);
    expect((inverted as Error).message).toContain('StartingHashKey "10" > EndingHashKey "9"');
  });

  it("types: the SDK's Shard and HashKeyRange are range inputs as they are; numbers are not", () => {
    expectTypeOf<Shard>().toExtend<HashKeyRangeInput>();
    expectTypeOf<SdkHashKeyRangeType>().toExtend<HashKeyRangeInput>();
    expectTypeOf<{ startingHashKey: string; endingHashKey: bigint }>().toExtend<HashKeyRangeInput>();
    expectTypeOf(parseHashKeyRange).returns.toEqualTypeOf<ParsedHashKeyRange>();
    expectTypeOf<ParsedHashKeyRange>().toEqualTypeOf<{ start: bigint; end: bigint }>();
    // @ts-expect-error: number bounds lose precision above 2^53; not accepted by the types (nor at run time).
    const numbers: HashKeyRangeInput = { startingHashKey: 0, endingHashKey: 10 };
    expect(() => parseHashKeyRange(numbers)).toThrow(InvalidHashKeyError);
  });

  it('accepts each shape with decimal strings or bigints, bounds included', () => {
    const cases: [HashKeyRangeInput, bigint, bigint][] = [
      [{ startingHashKey: '0', endingHashKey: MAX }, 0n, MAX_HASH_KEY],
      [{ startingHashKey: 7n, endingHashKey: 7n }, 7n, 7n],
      [{ startingHashKey: '12', endingHashKey: 99n }, 12n, 99n],
      [{ StartingHashKey: '0', EndingHashKey: '0' }, 0n, 0n],
      [{ StartingHashKey: 5n, EndingHashKey: MAX }, 5n, MAX_HASH_KEY],
      [
        { HashKeyRange: { StartingHashKey: '170141183460469231731687303715884105728', EndingHashKey: MAX } },
        1n << 127n,
        MAX_HASH_KEY,
      ],
    ];
    for (const [range, start, end] of cases) {
      expect(parseHashKeyRange(range)).toEqual({ start, end });
      expect(isInHashRange(start, range)).toBe(true);
      expect(isInHashRange(end, range)).toBe(true);
      if (start > 0n) expect(isInHashRange(start - 1n, range)).toBe(false);
      if (end < MAX_HASH_KEY) expect(isInHashRange(end + 1n, range)).toBe(false);
    }
    // The result is the caller's: changing it changes nothing for the next call.
    const parsed = parseHashKeyRange({ startingHashKey: '1', endingHashKey: '2' });
    parsed.start = 100n;
    expect(parseHashKeyRange({ startingHashKey: '1', endingHashKey: '2' })).toEqual({ start: 1n, end: 2n });
  });

  it('rejects everything else with InvalidHashKeyError naming the value', () => {
    const over = (MAX_HASH_KEY + 1n).toString();
    const cases: [unknown, string][] = [
      [null, 'null'],
      ['0-10', '"0-10"'],
      [42, 'number 42'],
      [[], '[]'],
      [{}, '{}'],
      [{ startingHashKey: '1' }, 'no endingHashKey'],
      [{ EndingHashKey: '1' }, 'no StartingHashKey'],
      [{ startingHashKey: undefined, endingHashKey: '1' }, 'no startingHashKey'],
      [{ HashKeyRange: undefined }, 'undefined'],
      [{ HashKeyRange: null }, 'null'],
      [{ HashKeyRange: {} }, 'no HashKeyRange.StartingHashKey'],
      [{ ShardId: 'shardId-000000000000' }, '"shardId-000000000000"'],
      [{ startingHashKey: 0, endingHashKey: 10 }, 'number 0'],
      [{ startingHashKey: '0', endingHashKey: 10 }, 'number 10'],
      [{ startingHashKey: '-1', endingHashKey: '1' }, '"-1"'],
      [{ startingHashKey: '01', endingHashKey: '1' }, '"01"'],
      [{ startingHashKey: '+1', endingHashKey: '1' }, '"+1"'],
      [{ startingHashKey: ' 1', endingHashKey: '2' }, '" 1"'],
      [{ startingHashKey: '1.0', endingHashKey: '2' }, '"1.0"'],
      [{ startingHashKey: '1e3', endingHashKey: '2e3' }, '"1e3"'],
      [{ startingHashKey: '', endingHashKey: '2' }, '""'],
      [{ startingHashKey: '0', endingHashKey: over }, `"${over}"`],
      [{ StartingHashKey: -1n, EndingHashKey: 1n }, '-1n'],
      [{ StartingHashKey: 0n, EndingHashKey: MAX_HASH_KEY + 1n }, `${over}n`],
      [{ startingHashKey: 5n, endingHashKey: 4n }, '5n > endingHashKey 4n'],
      [{ startingHashKey: '0', endingHashKey: '1', StartingHashKey: '5', EndingHashKey: '6' }, 'exactly one'],
      [{ startingHashKey: '0', endingHashKey: '1', HashKeyRange: {} }, 'exactly one'],
    ];
    const record = aggregateOf(fiveUsers);
    for (const [range, named] of cases) {
      for (const call of [
        () => parseHashKeyRange(range as HashKeyRangeInput),
        () => deaggregate(record, { hashKeyRange: range as HashKeyRangeInput }),
        () => deaggregate({ Data: Buffer.from('plain') }, { hashKeyRange: range as HashKeyRangeInput }),
        () => isInHashRange(1n, range as HashKeyRangeInput),
      ]) {
        const error = thrown(call);
        expect(error, JSON.stringify(named)).toBeInstanceOf(InvalidHashKeyError);
        expect((error as Error).message).toContain(named);
      }
    }
  });

  it('validates on every call, not just the first: a valid range in between changes nothing', () => {
    const record = aggregateOf(fiveUsers);
    const range: { startingHashKey: unknown; endingHashKey: unknown } = {
      startingHashKey: '0',
      endingHashKey: MAX,
    };
    const asInput = range as HashKeyRangeInput;
    for (let round = 0; round < 3; round++) {
      expect(deaggregate(record, { hashKeyRange: asInput })).toHaveLength(5);
      expect(() => deaggregate(record, { hashKeyRange: {} })).toThrow(InvalidHashKeyError);
      expect(() =>
        deaggregate(record, { hashKeyRange: { startingHashKey: '0' } as HashKeyRangeInput }),
      ).toThrow(InvalidHashKeyError);
      // The same object, mutated: its new values are checked, not its identity remembered.
      range.endingHashKey = '-5';
      expect(() => deaggregate(record, { hashKeyRange: asInput })).toThrow(/"-5"/);
      range.endingHashKey = MAX;
      range.startingHashKey = MAX;
      expect(() =>
        deaggregate(record, { hashKeyRange: { startingHashKey: MAX, endingHashKey: '0' } }),
      ).toThrow(InvalidHashKeyError);
      // [MAX, MAX]: none of the five (MD5 keys) is inside.
      expect(deaggregateWithStats(record, { hashKeyRange: asInput, outOfRange: 'drop' })).toMatchObject({
        records: [],
        outOfRange: 5,
        droppedOutOfRange: 5,
      });
      range.startingHashKey = '0';
    }
  });

  it('property: for any range, either it throws InvalidHashKeyError or exactly the records inside are kept', () => {
    // User records spread over the key space, with explicit hash keys at the edges and around the middle, so
    // that ranges drawn near these keys cut between records.
    const users: { partitionKey: string; explicitHashKey?: string }[] = [
      ...Array.from({ length: 24 }, (_, i) => ({ partitionKey: `pk-${i}-${'x'.repeat(i)}` })),
      { partitionKey: 'low', explicitHashKey: '0' },
      { partitionKey: 'high', explicitHashKey: MAX },
      { partitionKey: 'mid', explicitHashKey: (1n << 127n).toString() },
      { partitionKey: 'mid-1', explicitHashKey: ((1n << 127n) - 1n).toString() },
    ];
    const record = aggregateOf(users);
    const keys = users.map(modelHashKey);

    const nearKey = fc
      .tuple(fc.constantFrom(...keys), fc.integer({ min: -1, max: 1 }))
      .map(([key, delta]) => key + BigInt(delta));
    const anyKey = fc.bigInt({ min: -2n, max: MAX_HASH_KEY + 2n });
    const key = fc.oneof(nearKey, anyKey);
    const bound: fc.Arbitrary<unknown> = fc.oneof(
      { weight: 6, arbitrary: key.map((k) => k.toString()) },
      { weight: 4, arbitrary: key },
      {
        weight: 1,
        arbitrary: fc.constantFrom(undefined, null, 5, '', '01', '+1', '1.5', ' 7', 'abc', '0x10', {}, []),
      },
      { weight: 1, arbitrary: key.map((k) => `0${k}`) },
    );
    const range = fc
      .tuple(bound, bound, fc.constantFrom('ours', 'sdk', 'shard', 'missing'))
      .map(([s, e, shape]) => {
        switch (shape) {
          case 'ours':
            return { startingHashKey: s, endingHashKey: e };
          case 'sdk':
            return { StartingHashKey: s, EndingHashKey: e };
          case 'shard':
            return {
              ShardId: 'shardId-000000000001',
              HashKeyRange: { StartingHashKey: s, EndingHashKey: e },
            };
          default:
            return { startingHashKey: s };
        }
      });
    const policy = fc.constantFrom<OutOfRangePolicy>('keep', 'flag', 'drop');

    /** The model's reading of a bound: its value if valid, else undefined. */
    const boundValue = (value: unknown): bigint | undefined => {
      if (typeof value === 'bigint') return value >= 0n && value <= MAX_HASH_KEY ? value : undefined;
      if (typeof value !== 'string' || !/^(0|[1-9][0-9]*)$/.test(value)) return undefined;
      const parsed = BigInt(value);
      return parsed <= MAX_HASH_KEY ? parsed : undefined;
    };

    let valid = 0;
    let invalid = 0;
    let cut = 0;
    fc.assert(
      fc.property(range, policy, (input, outOfRange) => {
        const raw: object = ('HashKeyRange' in input ? input.HashKeyRange : input) ?? {};
        const bounds = Object.values(raw);
        const start = bounds.length === 2 ? boundValue(bounds[0]) : undefined;
        const end = bounds.length === 2 ? boundValue(bounds[1]) : undefined;
        const expectValid = start !== undefined && end !== undefined && start <= end;
        let result: ReturnType<typeof deaggregateWithStats> | undefined;
        let error: unknown;
        try {
          result = deaggregateWithStats(record, { hashKeyRange: input as HashKeyRangeInput, outOfRange });
        } catch (caught) {
          error = caught;
        }
        if (!expectValid) {
          invalid++;
          expect(error).toBeInstanceOf(InvalidHashKeyError);
          return;
        }
        valid++;
        expect(error).toBeUndefined();
        if (result === undefined) throw new Error('no result');
        const inside = keys.map((k) => k >= start && k <= end);
        const outside = inside.filter((x) => !x).length;
        if (outside > 0 && outside < keys.length) cut++;
        expect(result.outOfRange).toBe(outside);
        expect(result.droppedOutOfRange).toBe(outOfRange === 'drop' ? outside : 0);
        const expectedKept = users.filter((_, i) => outOfRange !== 'drop' || inside[i]);
        expect(result.records.map((r) => r.partitionKey)).toEqual(expectedKept.map((u) => u.partitionKey));
        for (const r of result.records) {
          const i = r.subSequenceNumber;
          expect(r.outOfRange).toBe(outOfRange === 'flag' && !inside[i] ? true : undefined);
        }
        // The same range alone agrees.
        expect(parseHashKeyRange(input as HashKeyRangeInput)).toEqual({ start, end });
      }),
      { numRuns: 3_000 },
    );
    // The generator reaches every outcome often enough to mean something.
    expect(valid).toBeGreaterThan(300);
    expect(invalid).toBeGreaterThan(300);
    expect(cut).toBeGreaterThan(100);
  });
});
