import type { Shard } from '@aws-sdk/client-kinesis';
import { describe, expect, it } from 'vitest';
import { ShardSyncer } from '../src/leases/ShardSyncer.js';
import { InMemoryLeaseStore } from './fixtures/InMemoryLeaseStore.js';
import { fakeKinesis, put, SEQ, shard } from './fixtures/shards.js';

describe('ShardSyncer with lease cleanup', () => {
  function syncer(store: InMemoryLeaseStore, listing: () => Shard[]) {
    return new ShardSyncer({
      kinesis: fakeKinesis(listing).client,
      stream: { StreamName: 's' },
      store,
      initialCheckpoint: 'TRIM_HORIZON',
    });
  }

  it('on an empty table creates every shard, closed parents included (nothing leased below them yet)', async () => {
    const store = new InMemoryLeaseStore();
    const listing = () => [
      shard('G', [], true),
      shard('P', ['G'], true),
      shard('A', ['P']),
      shard('B', ['P']),
    ];
    const { created, leases } = await syncer(store, listing).sync();
    expect(created).toBe(4);
    expect(leases).toEqual([]); // the scan, read before creating
    expect(store.leases.get('G')?.checkpoint).toBe('TRIM_HORIZON');
  });

  it('never re-creates a deleted parent or grandparent: a shard with a leased descendant gets no lease', async () => {
    const store = new InMemoryLeaseStore();
    const listing = () => [
      shard('G', [], true),
      shard('P', ['G'], true),
      shard('A', ['P']),
      shard('B', ['P']),
    ];
    await put(store, { leaseKey: 'A', checkpoint: SEQ, parentShardIds: ['P'] });
    await put(store, { leaseKey: 'B', checkpoint: SEQ, parentShardIds: ['P'] });
    expect((await syncer(store, listing).sync()).created).toBe(0);
    expect([...store.leases.keys()].sort()).toEqual(['A', 'B']);
  });

  it('also when a lagging listing shows the deleted parent still open and no children', async () => {
    const store = new InMemoryLeaseStore();
    await put(store, { leaseKey: 'A', checkpoint: SEQ, parentShardIds: ['P'] });
    expect((await syncer(store, () => [shard('P')]).sync()).created).toBe(0);
    expect(store.leases.has('P')).toBe(false);
  });

  it('still creates a missing child below a leased parent, and unrelated shards', async () => {
    const store = new InMemoryLeaseStore();
    await put(store, { leaseKey: 'P', checkpoint: 'SHARD_END' });
    await put(store, { leaseKey: 'A', checkpoint: SEQ, parentShardIds: ['P'] });
    const listing = () => [shard('P', [], true), shard('A', ['P']), shard('B', ['P']), shard('Z')];
    expect((await syncer(store, listing).sync()).created).toBe(2);
    expect(store.leases.get('B')).toMatchObject({ checkpoint: 'TRIM_HORIZON', parentShardIds: ['P'] });
    expect(store.leases.get('Z')?.checkpoint).toBe('TRIM_HORIZON');
  });
});
