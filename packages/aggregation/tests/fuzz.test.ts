import { createHash } from 'node:crypto';
import { seededRandom as prng } from '@shardline/testkit';
import { describe, expect, it } from 'vitest';
import {
  deaggregateWithStats,
  RecordAggregator,
  ShardlineAggregationError,
  type UserRecord,
} from '../src/index.js';
import { frame, pbEncode } from './protobuf.js';
import { lengthDelimited, tag, varint, varintField } from './wire.js';

const ITERATIONS = 100_000;
const SEED = 0x5eed_2026;

// Valid aggregates of assorted shapes to mutate: ours, protobufjs with tags, hand-built with unknown fields.
function corpus(random: () => number): Uint8Array[] {
  const bodies: Uint8Array[] = [];
  for (let n = 0; n < 12; n++) {
    const aggregator = new RecordAggregator({ emitSingleRecordRaw: false });
    const count = 1 + Math.floor(random() * 12);
    for (let i = 0; i < count; i++) {
      aggregator.add({
        partitionKey: i % 3 === 0 ? `κλειδί-${i}` : `key-${Math.floor(random() * 5)}`,
        explicitHashKey: random() < 0.3 ? String(Math.floor(random() * 1e15)) : undefined,
        data: new Uint8Array(Math.floor(random() * (n % 4 === 0 ? 140 : 24))).map(() => random() * 256),
      });
    }
    bodies.push((aggregator.flush()?.data ?? new Uint8Array()).subarray(4, -16));
  }
  bodies.push(
    pbEncode({
      partitionKeyTable: ['a', 'b'],
      explicitHashKeyTable: ['0', '340282366920938463463374607431768211455'],
      records: [
        {
          partitionKeyIndex: 1,
          explicitHashKeyIndex: 1,
          data: new Uint8Array([1, 2]),
          tags: [{ key: 'k', value: 'v' }],
        },
        { partitionKeyIndex: 0, data: new Uint8Array(200), tags: [{ key: 'only-key' }] },
      ],
    }),
  );
  bodies.push(
    new Uint8Array([
      ...lengthDelimited(3, [
        ...varintField(1, 0),
        ...lengthDelimited(3, 'late tables'),
        ...tag(7, 3),
        ...tag(7, 4),
      ]),
      ...tag(9, 1),
      ...[1, 2, 3, 4, 5, 6, 7, 8],
      ...lengthDelimited(1, 'pk'),
    ]),
  );
  return bodies;
}

function mutate(body: Uint8Array, random: () => number): Uint8Array {
  let bytes = [...body];
  const steps = 1 + Math.floor(random() * 3);
  for (let s = 0; s < steps; s++) {
    const at = Math.floor(random() * (bytes.length + 1));
    switch (Math.floor(random() * 7)) {
      case 0:
        if (bytes.length > 0) bytes[Math.min(at, bytes.length - 1)] = Math.floor(random() * 256);
        break;
      case 1:
        if (bytes.length > 0) {
          const i = Math.min(at, bytes.length - 1);
          bytes[i] = (bytes[i] as number) ^ (1 << Math.floor(random() * 8));
        }
        break;
      case 2:
        bytes = bytes.slice(0, at);
        break;
      case 3:
        bytes.splice(
          at,
          0,
          ...Array.from({ length: 1 + Math.floor(random() * 8) }, () => Math.floor(random() * 256)),
        );
        break;
      case 4: {
        // A hostile length prefix: a huge varint where a length may be.
        const huge = varint(BigInt(Math.floor(random() * 2 ** 31)) * 2n ** BigInt(Math.floor(random() * 33)));
        bytes.splice(at, 1 + Math.floor(random() * 2), ...huge);
        break;
      }
      case 5:
        bytes.splice(
          at,
          0,
          ...bytes.slice(Math.floor(random() * bytes.length), Math.floor(random() * bytes.length)),
        );
        break;
      default:
        bytes.splice(at, Math.floor(random() * 6));
    }
  }
  return new Uint8Array(bytes);
}

function checkInvariants(records: UserRecord[], data: Uint8Array): void {
  let total = 0;
  for (const record of records) {
    // Zero-copy: a view inside the input, never a fresh allocation.
    if (record.data.buffer !== data.buffer) throw new Error('user record data is not a view of the input');
    if (
      record.data.byteOffset < data.byteOffset ||
      record.data.byteOffset + record.data.length > data.byteOffset + data.length
    ) {
      throw new Error('user record data outside the input');
    }
    total += record.data.length;
  }
  // An aggregate may legitimately hold no user records (or have them all filtered out by range).
  if (records.length === 0 || records[0]?.aggregated) {
    // Each user record costs at least 6 body bytes: nothing is sized from a length prefix.
    if (records.length * 6 > data.length)
      throw new Error(`${records.length} records from ${data.length} bytes`);
    if (total > data.length) throw new Error('more payload than input');
  } else if (records.length !== 1) {
    throw new Error('a pass-through must be exactly one record');
  }
}

describe('fuzz: mutated and truncated aggregates', () => {
  it(`${ITERATIONS.toLocaleString('en-US')} deterministic cases: no hang, only typed errors, bounded output`, () => {
    const random = prng(SEED);
    const bodies = corpus(random);
    const outcomes = { decoded: 0, empty: 0, checksum: 0, decode: 0, ordinary: 0, strictThrows: 0 };
    const range = { startingHashKey: 0n, endingHashKey: (1n << 127n) - 1n };
    for (let i = 0; i < ITERATIONS; i++) {
      const base = bodies[Math.floor(random() * bodies.length)] as Uint8Array;
      const mutated = mutate(base, random);
      // Mostly re-frame with a correct MD5 so the protobuf decoder is what gets exercised.
      let data: Uint8Array = frame(mutated);
      if (random() < 0.1) data = mutate(data, random);
      const options = { verifyChecksum: random() < 0.9, hashKeyRange: random() < 0.2 ? range : undefined };

      const { records } = deaggregateWithStats({ Data: data, SequenceNumber: '1' }, options);
      checkInvariants(records, data);
      const first = records[0];
      const kind =
        first === undefined
          ? 'empty'
          : (first.aggregationError ?? (first.aggregated ? 'decoded' : 'ordinary'));
      outcomes[kind] += 1;

      try {
        const strict = deaggregateWithStats(
          { Data: data, SequenceNumber: '1' },
          { ...options, strict: true },
        );
        if (strict.records.length !== records.length) throw new Error('strict and lenient disagree');
      } catch (error) {
        if (!(error instanceof ShardlineAggregationError)) throw error;
        if (records[0]?.aggregationError === undefined) throw new Error('strict threw where lenient decoded');
        outcomes.strictThrows += 1;
      }
    }
    console.log(`fuzz outcomes (seed ${SEED}): ${JSON.stringify(outcomes)}`);
    // The corpus and mutations reach every outcome (a fuzz run that never fails decoding tests nothing).
    expect(outcomes.decoded).toBeGreaterThan(ITERATIONS / 20);
    expect(outcomes.decode).toBeGreaterThan(ITERATIONS / 20);
    expect(outcomes.checksum).toBeGreaterThan(0);
    expect(outcomes.ordinary).toBeGreaterThan(0);
    expect(outcomes.strictThrows).toBe(outcomes.decode + outcomes.checksum);
  });

  it('rejects a length prefix of 2^62 at once instead of allocating', () => {
    const body = new Uint8Array([...tag(3, 2), ...varint(2n ** 62n), 1, 2, 3]);
    const data = Buffer.concat([
      Buffer.from([0xf3, 0x89, 0x9a, 0xc2]),
      body,
      createHash('md5').update(body).digest(),
    ]);
    expect(deaggregateWithStats({ Data: data }).records[0]?.aggregationError).toBe('decode');
  });
});
