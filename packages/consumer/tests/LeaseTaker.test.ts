import { describe, expect, it } from 'vitest';
import { LeaseRenewer } from '../src/leases/LeaseRenewer.js';
import { LeaseTaker } from '../src/leases/LeaseTaker.js';
import { InMemoryLeaseStore } from './fixtures/InMemoryLeaseStore.js';

const FAILOVER = 10_000;

/** A worker's renewer + taker on a shared store and a shared fake clock. */
function worker(
  store: InMemoryLeaseStore,
  workerId: string,
  clock: { now: number },
  seed = 1,
  isBusy?: (leaseKey: string) => boolean,
) {
  let state = seed;
  const random = (): number => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
  const lost: string[] = [];
  const handedOff: string[] = [];
  const renewer: LeaseRenewer = new LeaseRenewer({
    store,
    workerId,
    failoverTimeMs: FAILOVER,
    renewIntervalMs: FAILOVER / 3,
    maxConcurrentRenewals: 4,
    now: () => clock.now,
    onLost: (lease, reason) => (reason === 'handed-off' ? handedOff : lost).push(lease.leaseKey),
    // An idle shard consumer: nothing in flight, so the lease is transferred at once.
    onHandoffRequested: (lease) => void renewer.release(lease.leaseKey),
  });
  const taker = new LeaseTaker({
    store,
    renewer,
    workerId,
    failoverTimeMs: FAILOVER,
    maxLeasesForWorker: 100,
    maxLeasesToStealAtOnce: 1,
    handoffTimeoutMs: 30_000,
    now: () => clock.now,
    random,
    ...(isBusy ? { isBusy } : {}),
  });
  return { workerId, renewer, taker, lost, handedOff };
}

type Worker = ReturnType<typeof worker>;

/** One round: time passes, everyone renews, then everyone runs a taker cycle. */
async function round(workers: readonly Worker[], clock: { now: number }): Promise<number> {
  clock.now += 2_500;
  for (const w of workers) await w.renewer.renewAll();
  let taken = 0;
  for (const w of workers) taken += (await w.taker.takeLeases()).length;
  return taken;
}

async function leases(store: InMemoryLeaseStore, count: number, checkpoint = 'TRIM_HORIZON'): Promise<void> {
  for (let i = 0; i < count; i++) await store.createLeaseIfNotExists({ leaseKey: `shard-${i}`, checkpoint });
}

describe('LeaseTaker', () => {
  it('3 workers on 6 leases settle at 2 each and then stop moving leases', async () => {
    const store = new InMemoryLeaseStore();
    await leases(store, 6);
    const clock = { now: 0 };
    const workers = ['a', 'b', 'c'].map((id, i) => worker(store, id, clock, i + 1));
    for (let i = 0; i < 10; i++) await round(workers, clock);
    expect([...store.load().values()]).toEqual([2, 2, 2]);
    for (let i = 0; i < 10; i++) expect(await round(workers, clock)).toBe(0); // no ping-pong
  });

  it('a 4th worker asks for one lease at a time; owners hand over gracefully to {2,2,1,1}, then stable', async () => {
    const store = new InMemoryLeaseStore();
    await leases(store, 6);
    const clock = { now: 0 };
    const workers = ['a', 'b', 'c'].map((id, i) => worker(store, id, clock, i + 1));
    for (let i = 0; i < 10; i++) await round(workers, clock);
    const lostBefore = workers.reduce((n, w) => n + w.lost.length, 0);
    const handedOffBefore = workers.reduce((n, w) => n + w.handedOff.length, 0);
    const d = worker(store, 'd', clock, 9);
    workers.push(d);
    const acquired: number[] = [];
    for (let i = 0; i < 6; i++) acquired.push(await round(workers, clock));
    expect([...store.load().values()].sort()).toEqual([1, 1, 2, 2]);
    expect(store.load().get('d')).toBe(1);
    expect(Math.max(...acquired)).toBe(1); // maxLeasesToStealAtOnce
    for (let i = 0; i < 10; i++) expect(await round(workers, clock)).toBe(0);
    // Nothing was taken from under a live owner: the lease was asked for and handed over.
    expect(workers.reduce((n, w) => n + w.lost.length, 0) - lostBefore).toBe(0);
    expect(workers.reduce((n, w) => n + w.handedOff.length, 0) - handedOffBefore).toBe(1);
    expect([...store.leases.values()].every((lease) => lease.checkpointOwner === undefined)).toBe(true);
  });

  it('an asked-for lease stays with its owner until it transfers; a silent owner is overridden only after the timeout', async () => {
    const store = new InMemoryLeaseStore();
    await leases(store, 2);
    const clock = { now: 0 };
    const a = worker(store, 'a', clock);
    await a.taker.takeLeases();
    // b asks; a renews but never transfers (a processor stuck in its batch, say).
    const b = worker(store, 'b', clock);
    await b.taker.takeLeases();
    const asked = [...store.leases.values()].find((lease) => lease.checkpointOwner === 'a');
    if (!asked) throw new Error('no handoff requested');
    expect(asked.leaseOwner).toBe('b');
    const stuck = new LeaseRenewer({
      store,
      workerId: 'a',
      failoverTimeMs: FAILOVER,
      renewIntervalMs: FAILOVER / 3,
      maxConcurrentRenewals: 4,
      now: () => clock.now,
      onLost: () => {},
    });
    for (const lease of store.leases.values()) stuck.add(lease, clock.now);
    let elapsed = 0;
    while (elapsed < 30_000 + FAILOVER - 2_500) {
      clock.now += 2_500;
      elapsed += 2_500;
      await stuck.renewAll();
      expect(await b.taker.takeLeases()).toEqual([]); // a is alive and still the checkpointOwner
    }
    clock.now += 2_500;
    await stuck.renewAll();
    const taken = await b.taker.takeLeases();
    expect(taken.map(({ lease, stolen }) => [lease.leaseKey, stolen])).toEqual([[asked.leaseKey, true]]);
    expect(store.leases.get(asked.leaseKey)).toMatchObject({ leaseOwner: 'b', checkpointOwner: undefined });
  });

  it('a lease asked for whose owner dies is taken once it expires', async () => {
    const store = new InMemoryLeaseStore();
    await leases(store, 2);
    const clock = { now: 0 };
    const a = worker(store, 'a', clock);
    await a.taker.takeLeases();
    const b = worker(store, 'b', clock);
    await b.taker.takeLeases(); // asks for one; a never renews again (SIGKILL)
    expect(store.load().get('b')).toBe(1); // asked for, not yet transferred
    clock.now += FAILOVER - 1;
    expect(await b.taker.takeLeases()).toEqual([]);
    clock.now += 1;
    const taken = await b.taker.takeLeases();
    expect(taken).toHaveLength(2);
    expect(taken.every(({ stolen }) => !stolen)).toBe(true);
    expect(store.load().get('b')).toBe(2);
  });

  it("an owned lease is not taken until its counter has stood still for failoverTimeMs on the taker's clock", async () => {
    const store = new InMemoryLeaseStore();
    await leases(store, 2);
    const clock = { now: 0 };
    const dead = worker(store, 'dead', clock);
    await dead.taker.takeLeases();
    expect(store.load().get('dead')).toBe(2);
    const heir = worker(store, 'heir', clock);
    await heir.taker.takeLeases(); // first sight: not expired; fair share 1 each, but nothing to steal beyond it
    const afterFirstLook = store.load().get('heir') ?? 0;
    expect(afterFirstLook).toBeLessThanOrEqual(1); // may steal one to reach its fair share, never both
    clock.now += FAILOVER - 1;
    await heir.taker.takeLeases();
    expect(store.load().get('heir') ?? 0).toBeLessThanOrEqual(1);
    clock.now += 1;
    await heir.taker.takeLeases();
    expect(store.load().get('heir')).toBe(2);
  });

  it('a live worker renewing its leases keeps them; SHARD_END leases are left alone', async () => {
    const store = new InMemoryLeaseStore();
    await leases(store, 2);
    await store.createLeaseIfNotExists({ leaseKey: 'finished', checkpoint: 'SHARD_END' });
    const clock = { now: 0 };
    const a = worker(store, 'a', clock);
    const b = worker(store, 'b', clock);
    await a.taker.takeLeases();
    expect(store.load().get('a')).toBe(2);
    for (let i = 0; i < 20; i++) {
      clock.now += 2_500;
      await a.renewer.renewAll();
      await b.taker.takeLeases();
    }
    // b reaches its fair share by stealing one and no more; the finished lease stays unowned.
    expect(store.load().get('a')).toBe(1);
    expect(store.load().get('b')).toBe(1);
    expect(store.leases.get('finished')?.leaseOwner).toBeUndefined();
  });

  it('a renewer whose renewals keep failing drops its lease locally before others may take it', async () => {
    const store = new InMemoryLeaseStore();
    await leases(store, 1);
    const clock = { now: 0 };
    const a = worker(store, 'a', clock);
    await a.taker.takeLeases();
    store.renewLease = async () => {
      throw new Error('throttled');
    };
    clock.now += FAILOVER - 1;
    expect(a.renewer.get('shard-0')).toBeDefined();
    await a.renewer.renewAll();
    clock.now += 1;
    await a.renewer.renewAll();
    expect(a.renewer.get('shard-0')).toBeUndefined();
    expect(a.lost).toEqual(['shard-0']);
  });

  it('dates a first sighting from when the scan returned, not from when it started', async () => {
    const store = new InMemoryLeaseStore();
    await leases(store, 1);
    const clock = { now: 0 };
    const other = worker(store, 'other', clock);
    await other.taker.takeLeases();
    const observer = worker(store, 'observer', clock);
    const list = store.listLeases.bind(store);
    store.listLeases = async () => {
      const result = await list();
      clock.now += 3_000; // one slow scan: what it read is seen at 3_000, not at 0
      store.listLeases = list;
      return result;
    };
    expect(await observer.taker.takeLeases()).toEqual([]);
    clock.now = FAILOVER + 2_999; // under failoverTimeMs since the scan returned
    expect(await observer.taker.takeLeases()).toEqual([]);
    expect(store.leases.get('shard-0')?.leaseOwner).toBe('other');
    clock.now = FAILOVER + 3_000;
    expect(await observer.taker.takeLeases()).toHaveLength(1);
  });

  it('does not take back a lease whose previous consumer here is still winding down', async () => {
    const store = new InMemoryLeaseStore();
    await leases(store, 1);
    const clock = { now: 0 };
    const busy = new Set<string>();
    const a = worker(store, 'a', clock, 1, (key) => busy.has(key));
    await a.taker.takeLeases();
    // The renewer lets the lease expire locally while its consumer is still inside processRecords.
    busy.add('shard-0');
    clock.now += FAILOVER;
    expect(a.renewer.get('shard-0')).toBeUndefined();
    expect(store.leases.get('shard-0')?.leaseOwner).toBe('a'); // still ours in the table
    expect(await a.taker.takeLeases()).toEqual([]);
    // A thief's lease is not stolen back either while the old consumer runs.
    const lease = store.leases.get('shard-0');
    if (!lease) throw new Error('no lease');
    await store.takeLease(lease, 'thief');
    expect(await a.taker.takeLeases()).toEqual([]); // first sight of the thief's counter
    clock.now += FAILOVER; // the thief never renews: expired by a's clock, but still busy here
    expect(await a.taker.takeLeases()).toEqual([]);
    busy.delete('shard-0');
    expect(await a.taker.takeLeases()).toHaveLength(1);
    expect(store.leases.get('shard-0')?.leaseOwner).toBe('a');
  });
});
