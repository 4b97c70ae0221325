import { describe, expect, it } from 'vitest';
import { type Delivery, type Produced, verify } from '../src/verify.js';

const produced: Produced[] = [
  { id: 'a0', key: 'a', ordinal: 0 },
  { id: 'a1', key: 'a', ordinal: 1 },
  { id: 'b0', key: 'b', ordinal: 0 },
  { id: 'a2', key: 'a', ordinal: 2 },
];

function deliveries(ids: string[], shardId = 'shardId-0'): Delivery[] {
  return ids.map((id, i) => {
    const p = produced.find((x) => x.id === id);
    if (!p) throw new Error(id);
    return { id, key: p.key, ordinal: p.ordinal, shardId, workerId: 'w1', at: BigInt(i) };
  });
}

describe('verify', () => {
  it('passes when every record is delivered once, in order per key', () => {
    const result = verify(produced, deliveries(['a0', 'b0', 'a1', 'a2']));
    expect(result).toMatchObject({ ok: true, consumed: 4, duplicates: 0, missing: [] });
  });

  it('counts re-deliveries after a crash as duplicates, not order violations', () => {
    const result = verify(produced, deliveries(['a0', 'a1', 'b0', 'a1', 'a2']));
    expect(result).toMatchObject({ ok: true, duplicates: 1, duplicatesByShard: { 'shardId-0': 1 } });
  });

  it('says which worker processed a duplicate first and which got it again', () => {
    const list = deliveries(['a0', 'a1', 'b0', 'a1', 'a2']).map((d, i) => ({
      ...d,
      workerId: i < 3 ? 'w1' : 'w2',
    }));
    expect(verify(produced, list).duplicatesByWorkers).toEqual({ 'w1->w2': 1 });
  });

  it("explains a duplicate with a copy delivered outside its shard's range as a reshard re-send, not a lease move", () => {
    const list = deliveries(['a0', 'a1', 'b0', 'a1', 'a2']).map((d, i) => ({
      ...d,
      workerId: i < 3 ? 'w1' : 'w2',
      ...(i === 1 ? { outOfRange: true } : {}),
    }));
    const result = verify(produced, list);
    expect(result).toMatchObject({
      ok: true,
      duplicates: 1,
      duplicatesOutOfRange: 1,
      duplicatesByWorkers: {},
    });
  });

  it('tells two copies in the stream (a producer retry) from a re-delivery of the same record', () => {
    const list = deliveries(['a0', 'a1', 'b0', 'a1', 'a2']).map((d, i) => ({
      ...d,
      sequenceNumber: String(100 + i),
      subSequenceNumber: 0,
    }));
    const result = verify(produced, list);
    expect(result).toMatchObject({ ok: true, duplicates: 1, duplicatesInStream: 1, duplicatesByWorkers: {} });
    const again = deliveries(['a0', 'a1', 'b0', 'a1', 'a2']).map((d, i) => ({
      ...d,
      sequenceNumber: String(100 + (i === 3 ? 1 : i)),
      subSequenceNumber: 0,
    }));
    expect(verify(produced, again)).toMatchObject({
      duplicatesInStream: 0,
      duplicatesByWorkers: { 'w1->w1': 1 },
    });
  });

  it('fails on a missing record', () => {
    const result = verify(produced, deliveries(['a0', 'a1', 'b0']));
    expect(result.ok).toBe(false);
    expect(result.missing).toEqual(['a2']);
  });

  it('fails when a later record of a key is first seen before an earlier one', () => {
    const result = verify(produced, deliveries(['a0', 'a2', 'a1', 'b0']));
    expect(result.ok).toBe(false);
    expect(result.orderViolations).toEqual([{ key: 'a', expected: 1, got: 2 }]);
  });

  it('orders deliveries by their monotonic timestamps, not by arrival', () => {
    const list = deliveries(['a1', 'a0']).map((d) => ({ ...d, at: d.id === 'a0' ? 1n : 2n }));
    const result = verify(produced.slice(0, 2), list);
    expect(result.ok).toBe(true);
  });

  it('fails on a record nobody produced', () => {
    const stray: Delivery = { id: 'zz', key: 'z', ordinal: 0, shardId: 's', workerId: 'w', at: 9n };
    const result = verify(produced, [...deliveries(['a0', 'a1', 'b0', 'a2']), stray]);
    expect(result.ok).toBe(false);
    expect(result.unexpected).toEqual(['zz']);
  });
});
