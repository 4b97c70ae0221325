import type { Shard } from '@aws-sdk/client-kinesis';
import { describe, expect, it } from 'vitest';
import { LeaseCleaner, type LeaseDeletionReason } from '../src/leases/LeaseCleaner.js';
import { InMemoryLeaseStore } from './fixtures/InMemoryLeaseStore.js';
import { fakeKinesis, put, SEQ, shard } from './fixtures/shards.js';

function setup(options: { listing?: () => Shard[]; gone?: Set<string>; maxDeletesPerRun?: number } = {}) {
  const store = new InMemoryLeaseStore();
  const clock = { now: 0 };
  const listing = options.listing ?? (() => []);
  const kinesis = fakeKinesis(listing, options.gone);
  const deleted: Array<[string, LeaseDeletionReason]> = [];
  const errors: string[] = [];
  const cleaner = new LeaseCleaner({
    store,
    kinesis: kinesis.client,
    stream: { StreamName: 's' },
    failoverTimeMs: 10_000,
    maxDeletesPerRun: options.maxDeletesPerRun ?? 100,
    now: () => clock.now,
    onDeleted: (lease, reason) => deleted.push([lease.leaseKey, reason]),
    onError: (_error, operation, leaseKey) => errors.push(`${operation}:${leaseKey}`),
  });
  const run = async () => cleaner.clean({ shards: listing(), leases: await store.listLeases() });
  return { store, clock, kinesis, cleaner, deleted, errors, run };
}

describe('LeaseCleaner: finished leases', () => {
  // P split into A and B; all listed.
  const listing = () => [shard('P', [], true), shard('A', ['P']), shard('B', ['P'])];

  it('deletes a SHARD_END lease once every child lease is checkpointed past its start', async () => {
    const t = setup({ listing });
    await put(t.store, { leaseKey: 'P', checkpoint: 'SHARD_END', childShardIds: ['A', 'B'] });
    await put(t.store, { leaseKey: 'A', checkpoint: SEQ, parentShardIds: ['P'] });
    await put(t.store, { leaseKey: 'B', checkpoint: 'TRIM_HORIZON', parentShardIds: ['P'] });
    expect((await t.run()).deleted).toEqual([]); // B has not started
    await put(t.store, { leaseKey: 'B', checkpoint: 'SHARD_END' }); // SHARD_END is past the start too
    expect((await t.run()).deleted).toEqual([{ shardId: 'P', reason: 'finished' }]);
    expect(t.deleted).toEqual([['P', 'finished']]);
    expect([...t.store.leases.keys()].sort()).toEqual(['A', 'B']);
  });

  it.each([
    ['a child lease is missing', ['A']],
    ['a child is at LATEST', ['A', 'B:LATEST']],
    ['a child is at AT_TIMESTAMP', ['A', 'B:AT_TIMESTAMP']],
  ])('keeps it while %s', async (_case, children) => {
    const t = setup({ listing });
    await put(t.store, { leaseKey: 'P', checkpoint: 'SHARD_END', childShardIds: ['A', 'B'] });
    for (const child of children) {
      const [id = '', checkpoint = SEQ] = child.split(':');
      await put(t.store, { leaseKey: id, checkpoint, parentShardIds: ['P'] });
    }
    await t.run();
    await t.run();
    expect(t.deleted).toEqual([]);
    expect(t.store.leases.has('P')).toBe(true);
  });

  it('learns children from the listing and the child leases when childShardIds was never written', async () => {
    const t = setup({ listing: () => [shard('P', [], true), shard('A', ['P'])] });
    await put(t.store, { leaseKey: 'P', checkpoint: 'SHARD_END' });
    await put(t.store, { leaseKey: 'A', checkpoint: SEQ, parentShardIds: ['P'] });
    // B is known only from its lease (created from ChildShards; the listing lags): still at TRIM_HORIZON.
    await put(t.store, { leaseKey: 'B', checkpoint: 'TRIM_HORIZON', parentShardIds: ['P'] });
    await t.run();
    expect(t.store.leases.has('P')).toBe(true);
    await put(t.store, { leaseKey: 'B', checkpoint: SEQ });
    await t.run();
    expect(t.deleted).toEqual([['P', 'finished']]);
  });

  it('keeps a SHARD_END lease whose children are unknown', async () => {
    const t = setup({ listing: () => [shard('P', [], true)] });
    await put(t.store, { leaseKey: 'P', checkpoint: 'SHARD_END' });
    await t.run();
    await t.run();
    expect(t.deleted).toEqual([]);
  });

  it('deletes ancestors first: a whole finished lineage goes in one run, parents before children', async () => {
    // G -> P -> (A, B); A and B merge into M; M is being read.
    const t = setup({
      listing: () => [
        shard('G', [], true),
        shard('P', ['G'], true),
        shard('A', ['P'], true),
        shard('B', ['P'], true),
        shard('M', ['A', 'B']),
      ],
    });
    await put(t.store, { leaseKey: 'M', checkpoint: SEQ, parentShardIds: ['A', 'B'] });
    await put(t.store, { leaseKey: 'B', checkpoint: 'SHARD_END', parentShardIds: ['P'] });
    await put(t.store, { leaseKey: 'A', checkpoint: 'SHARD_END', parentShardIds: ['P'] });
    await put(t.store, { leaseKey: 'P', checkpoint: 'SHARD_END', parentShardIds: ['G'] });
    await put(t.store, { leaseKey: 'G', checkpoint: 'SHARD_END' });
    await t.run();
    const order = t.deleted.map(([id]) => id);
    expect(order.slice(0, 2)).toEqual(['G', 'P']);
    expect([...order.slice(2)].sort()).toEqual(['A', 'B']);
    expect([...t.store.leases.keys()]).toEqual(['M']);
  });

  it('leaves a finished lease while its parent lease exists (the parent must go first)', async () => {
    // P's other child C has not started, so P stays; A is done but waits for P.
    const t = setup({
      listing: () => [shard('P', [], true), shard('A', ['P'], true), shard('C', ['P']), shard('D', ['A'])],
    });
    await put(t.store, { leaseKey: 'P', checkpoint: 'SHARD_END' });
    await put(t.store, { leaseKey: 'A', checkpoint: 'SHARD_END', parentShardIds: ['P'] });
    await put(t.store, { leaseKey: 'C', checkpoint: 'TRIM_HORIZON', parentShardIds: ['P'] });
    await put(t.store, { leaseKey: 'D', checkpoint: SEQ, parentShardIds: ['A'] });
    await t.run();
    expect(t.deleted).toEqual([]);
  });

  it('an owned finished lease goes only after its counter stood still for failoverTimeMs', async () => {
    const t = setup({ listing });
    await put(t.store, { leaseKey: 'P', checkpoint: 'SHARD_END', leaseOwner: 'w1', leaseCounter: 7 });
    await put(t.store, { leaseKey: 'A', checkpoint: SEQ, parentShardIds: ['P'] });
    await put(t.store, { leaseKey: 'B', checkpoint: SEQ, parentShardIds: ['P'] });
    await t.run();
    t.clock.now = 9_999;
    await t.run();
    expect(t.deleted).toEqual([]);
    await put(t.store, { leaseKey: 'P', leaseCounter: 8 }); // its owner wrote it: the wait starts again
    t.clock.now = 15_000;
    await t.run();
    expect(t.deleted).toEqual([]);
    t.clock.now = 25_000;
    await t.run();
    expect(t.deleted).toEqual([['P', 'finished']]);
  });

  it('a lease that changed after the scan is not deleted (a lost race, not an error)', async () => {
    const t = setup({ listing });
    await put(t.store, { leaseKey: 'P', checkpoint: 'SHARD_END' });
    await put(t.store, { leaseKey: 'A', checkpoint: SEQ, parentShardIds: ['P'] });
    await put(t.store, { leaseKey: 'B', checkpoint: SEQ, parentShardIds: ['P'] });
    const leases = await t.store.listLeases();
    await put(t.store, { leaseKey: 'P', leaseCounter: 1, leaseOwner: 'w2' });
    const result = await t.cleaner.clean({ shards: listing(), leases });
    expect(result).toEqual({ deleted: [], lostRaces: 1 });
    expect(t.deleted).toEqual([]);
    expect(t.errors).toEqual([]);
    expect(t.store.leases.has('P')).toBe(true);
  });

  it('bounds the deletes per run; the rest go in later runs', async () => {
    const many = Array.from({ length: 5 }, (_, i) => `P${i}`);
    const t = setup({
      listing: () => many.flatMap((p) => [shard(p, [], true), shard(`${p}c`, [p])]),
      maxDeletesPerRun: 2,
    });
    for (const p of many) {
      await put(t.store, { leaseKey: p, checkpoint: 'SHARD_END' });
      await put(t.store, { leaseKey: `${p}c`, checkpoint: SEQ, parentShardIds: [p] });
    }
    expect((await t.run()).deleted).toHaveLength(2);
    expect((await t.run()).deleted).toHaveLength(2);
    expect((await t.run()).deleted).toHaveLength(1);
    expect(t.deleted.map(([id]) => id).sort()).toEqual(many);
  });

  it('a failing delete (throttled, or not allowed) is reported once and ends the run', async () => {
    const t = setup({
      listing: () => [shard('P', [], true), shard('A', ['P']), shard('Q', [], true), shard('B', ['Q'])],
    });
    for (const [p, c] of [
      ['P', 'A'],
      ['Q', 'B'],
    ] as const) {
      await put(t.store, { leaseKey: p, checkpoint: 'SHARD_END' });
      await put(t.store, { leaseKey: c, checkpoint: SEQ, parentShardIds: [p] });
    }
    t.store.deleteLease = async () => {
      throw Object.assign(new Error('denied'), { name: 'AccessDeniedException' });
    };
    expect(await t.run()).toEqual({ deleted: [], lostRaces: 0 });
    expect(t.errors).toHaveLength(1);
    expect(t.errors[0]).toMatch(/^deleteLease:[PQ]$/);
  });
});

describe('LeaseCleaner: garbage leases', () => {
  it('deletes a lease whose shard is missing from two listings in a row and unknown to Kinesis', async () => {
    const t = setup({ listing: () => [shard('A')], gone: new Set(['X', 'Y']) });
    await put(t.store, { leaseKey: 'A', checkpoint: SEQ });
    await put(t.store, { leaseKey: 'X', checkpoint: 'TRIM_HORIZON' });
    await put(t.store, { leaseKey: 'Y', checkpoint: SEQ, leaseOwner: 'w1', leaseCounter: 4 });
    await t.run();
    // One missing listing is not enough, and Kinesis is not even asked yet.
    expect(t.deleted).toEqual([]);
    expect(t.kinesis.iteratorCalls).toEqual([]);
    await t.run();
    expect(t.deleted.sort()).toEqual([
      ['X', 'garbage'],
      ['Y', 'garbage'],
    ]);
    expect([...t.kinesis.iteratorCalls].sort()).toEqual(['X', 'Y']);
    expect([...t.store.leases.keys()]).toEqual(['A']);
  });

  it('keeps a lease whose shard Kinesis still knows (a lagging listing), and asks again later', async () => {
    const t = setup({ listing: () => [shard('P', [], true)] });
    await put(t.store, { leaseKey: 'P', checkpoint: 'SHARD_END', childShardIds: ['A'] });
    await put(t.store, { leaseKey: 'A', checkpoint: 'TRIM_HORIZON', parentShardIds: ['P'] });
    await t.run();
    await t.run();
    await t.run();
    expect(t.deleted).toEqual([]);
    expect(t.kinesis.iteratorCalls).toEqual(['A', 'A']);
  });

  it('a shard listed again resets the count', async () => {
    let listed = false;
    const t = setup({ listing: () => (listed ? [shard('X')] : []), gone: new Set(['X']) });
    await put(t.store, { leaseKey: 'X', checkpoint: 'TRIM_HORIZON' });
    await t.run();
    listed = true;
    await t.run();
    listed = false;
    await t.run();
    expect(t.deleted).toEqual([]);
    expect(t.kinesis.iteratorCalls).toEqual([]);
    await t.run();
    expect(t.deleted).toEqual([['X', 'garbage']]);
  });

  it('a garbage lease that changed after the scan survives the run', async () => {
    const t = setup({ gone: new Set(['X']) });
    await put(t.store, { leaseKey: 'X', checkpoint: 'TRIM_HORIZON' });
    await t.run();
    const leases = await t.store.listLeases();
    await put(t.store, { leaseKey: 'X', leaseOwner: 'w1', leaseCounter: 1 }); // taken meanwhile
    expect(await t.cleaner.clean({ shards: [], leases })).toEqual({ deleted: [], lostRaces: 1 });
    expect(t.store.leases.has('X')).toBe(true);
    await t.run(); // read as it is now: deleted, conditional on that owner and counter
    expect(t.deleted).toEqual([['X', 'garbage']]);
  });
});
