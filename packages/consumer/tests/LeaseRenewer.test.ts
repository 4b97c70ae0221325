import { describe, expect, it } from 'vitest';
import type { Lease } from '../src/index.js';
import { LeaseRenewer } from '../src/leases/LeaseRenewer.js';
import { ShardCheckpointer } from '../src/lifecycle/Checkpointer.js';
import { InMemoryLeaseStore } from './fixtures/InMemoryLeaseStore.js';

const FAILOVER = 10_000;

async function setup(renewIntervalMs = FAILOVER / 3) {
  const store = new InMemoryLeaseStore();
  await store.createLeaseIfNotExists({ leaseKey: 's', checkpoint: 'TRIM_HORIZON' });
  const clock = { now: 0 };
  const lost: string[] = [];
  const renewer = new LeaseRenewer({
    store,
    workerId: 'w',
    failoverTimeMs: FAILOVER,
    renewIntervalMs,
    maxConcurrentRenewals: 4,
    now: () => clock.now,
    onLost: (lease, reason) => lost.push(`${lease.leaseKey}:${reason}`),
  });
  const take = async (): Promise<Lease> => {
    const lease = await store.getLease('s');
    if (!lease) throw new Error('no lease');
    const taken = await store.takeLease(lease, 'w');
    if (!taken) throw new Error('not taken');
    renewer.add(taken, clock.now);
    return taken;
  };
  return { store, clock, lost, renewer, take };
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('LeaseRenewer', () => {
  it('a write queued before a drop neither runs against nor updates the lease taken again since', async () => {
    const { store, clock, renewer, take } = await setup();
    await take();
    const gate = deferred<Lease | undefined>();
    let firstCalled = false;
    const first = renewer.write('s', () => {
      firstCalled = true;
      return gate.promise;
    });
    let queuedRan = false;
    const queued = renewer.write('s', async (lease) => {
      queuedRan = true;
      return store.renewLease(lease, 'w');
    });
    await Promise.resolve();
    await Promise.resolve();
    expect(firstCalled).toBe(true);
    // Dropped (expired locally) while the first write is in flight, then taken again: a new holding.
    clock.now += FAILOVER;
    expect(renewer.get('s')).toBeUndefined();
    const retaken = await take();
    // The old write's result (an old counter) must not land in the new holding.
    gate.resolve({ ...retaken, leaseCounter: 1 });
    expect(await first).toBeUndefined();
    expect(await queued).toBeUndefined();
    expect(queuedRan).toBe(false);
    expect(renewer.get('s')).toEqual(retaken);
    expect((await store.getLease('s'))?.leaseCounter).toBe(retaken.leaseCounter);
  });

  it('a closed checkpointer does not retry its write through a lease taken again during the backoff', async () => {
    const { store, clock, renewer, take } = await setup();
    await take();
    const checkpointer = new ShardCheckpointer({
      shardId: 's',
      workerId: 'w',
      store,
      renewer,
      initial: { checkpoint: 'TRIM_HORIZON', subSequenceNumber: 0 },
      maxAttempts: 5,
      backoffBaseMs: 1,
      backoffMaxMs: 2,
    });
    checkpointer.markDelivered([{ sequenceNumber: '100', subSequenceNumber: 0 }], () => false);
    const write = store.checkpoint.bind(store);
    let attempts = 0;
    store.checkpoint = async (...args) => {
      attempts++;
      if (attempts === 1) {
        // The first attempt fails transiently; meanwhile the lease is lost, its checkpointer closed, and
        // the same worker takes the shard again (a new consumer with a new checkpointer).
        clock.now += FAILOVER;
        renewer.get('s');
        checkpointer.close();
        await take();
        throw new Error('throttled');
      }
      return write(...args);
    };
    await expect(checkpointer.checkpoint()).rejects.toMatchObject({ code: 'LEASE_LOST' });
    expect(attempts).toBe(1);
    expect((await store.getLease('s'))?.checkpoint).toBe('TRIM_HORIZON');
  });

  it('with renewIntervalMs = failoverTimeMs / 2 a lease survives a tick that just misses 0.9 intervals', async () => {
    const { clock, lost, renewer, take } = await setup(FAILOVER / 2);
    await take();
    // Ticks are an interval apart plus the duration of the previous round (slow lease table here).
    clock.now = 4_400; // under 0.9 x 5_000 since the take
    await renewer.renewAll();
    clock.now = 4_400 + 5_000 + 700;
    await renewer.renewAll();
    expect(lost).toEqual([]);
    expect(renewer.get('s')).toBeDefined();
  });

  it('release reports the loss (closing the checkpointer) before the evict round trip', async () => {
    const { store, lost, renewer, take } = await setup();
    await take();
    const evict = store.evictLease.bind(store);
    let lostWhenEvicting: string[] = [];
    store.evictLease = async (...args) => {
      lostWhenEvicting = [...lost];
      return evict(...args);
    };
    await renewer.release('s');
    expect(lostWhenEvicting).toEqual(['s:released']);
    expect((await store.getLease('s'))?.leaseOwner).toBeUndefined();
  });
});
