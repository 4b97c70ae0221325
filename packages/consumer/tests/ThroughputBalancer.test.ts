import { describe, expect, it } from 'vitest';
import { LeaseRenewer } from '../src/leases/LeaseRenewer.js';
import { type BalancingMode, LeaseTaker } from '../src/leases/LeaseTaker.js';
import { planMove } from '../src/leases/ThroughputBalancer.js';
import { InMemoryLeaseStore } from './fixtures/InMemoryLeaseStore.js';

const FAILOVER = 10_000;
const COOLDOWN = 60_000;

/** A worker's renewer + taker on a shared store and a shared fake clock; handoffs complete at once. */
function worker(
  store: InMemoryLeaseStore,
  workerId: string,
  clock: { now: number },
  balancing: BalancingMode,
) {
  const renewer: LeaseRenewer = new LeaseRenewer({
    store,
    workerId,
    failoverTimeMs: FAILOVER,
    renewIntervalMs: FAILOVER / 3,
    maxConcurrentRenewals: 4,
    now: () => clock.now,
    onLost: () => {},
    onHandoffRequested: (lease) => void renewer.release(lease.leaseKey),
  });
  let seed = workerId.charCodeAt(0);
  const taker = new LeaseTaker({
    store,
    renewer,
    workerId,
    failoverTimeMs: FAILOVER,
    maxLeasesForWorker: 1_000,
    maxLeasesToStealAtOnce: 1,
    handoffTimeoutMs: 30_000,
    balancing,
    balanceCooldownMs: COOLDOWN,
    now: () => clock.now,
    random: () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    },
  });
  return { workerId, renewer, taker, alive: true };
}

type Worker = ReturnType<typeof worker>;

/** 1 hot shard at 10x and 33 at 1x (KiB/s): a fair share (10.75) the hot shard alone does not exceed. */
function skewedRates(): Map<string, number> {
  const rates = new Map<string, number>([['shard-hot', 10]]);
  for (let i = 0; i < 33; i++) rates.set(`shard-${String(i).padStart(2, '0')}`, 1);
  return rates;
}

class Fleet {
  readonly store = new InMemoryLeaseStore();
  readonly clock = { now: 0 };
  readonly workers: Worker[];
  /** Ownership changes per lease, counted between rounds. */
  readonly moves = new Map<string, number>();
  #owners = new Map<string, string | undefined>();
  #seed = 7;

  constructor(
    readonly rates: Map<string, number>,
    ids: readonly string[],
    balancing: BalancingMode = 'throughput',
    readonly noise = 0,
  ) {
    this.workers = ids.map((id) => worker(this.store, id, this.clock, balancing));
  }

  async create(): Promise<void> {
    for (const leaseKey of this.rates.keys())
      await this.store.createLeaseIfNotExists({ leaseKey, checkpoint: 'TRIM_HORIZON' });
  }

  /** Time passes; each owner writes its measured throughput with its renewal; everyone runs a taker cycle. */
  async round(): Promise<void> {
    this.clock.now += 2_500;
    const live = this.workers.filter((w) => w.alive);
    for (const w of live) {
      for (const key of w.renewer.heldKeys()) {
        const lease = this.store.leases.get(key);
        const rate = this.rates.get(key) ?? 0;
        this.#seed = (this.#seed * 1_103_515_245 + 12_345) % 2 ** 31;
        const jitter = 1 + ((this.#seed / 2 ** 31) * 2 - 1) * this.noise;
        if (lease) this.store.leases.set(key, { ...lease, throughputKBps: rate * jitter });
      }
      await w.renewer.renewAll();
    }
    const ids = live.map((w) => w.workerId);
    for (const w of live) await w.taker.takeLeases(new Set(), live.length, ids);
    for (const lease of this.store.leases.values()) {
      const before = this.#owners.get(lease.leaseKey);
      const now = lease.checkpointOwner ?? lease.leaseOwner;
      if (before !== undefined && now !== undefined && before !== now)
        this.moves.set(lease.leaseKey, (this.moves.get(lease.leaseKey) ?? 0) + 1);
      this.#owners.set(lease.leaseKey, now);
    }
  }

  /** Throughput each live worker processes (by the leases its renewer holds). */
  loads(): number[] {
    return this.workers
      .filter((w) => w.alive)
      .map((w) => w.renewer.heldKeys().reduce((sum, key) => sum + (this.rates.get(key) ?? 0), 0));
  }

  withinOfMean(fraction: number): boolean {
    const loads = this.loads();
    const mean = loads.reduce((a, b) => a + b, 0) / loads.length;
    return loads.every((load) => Math.abs(load - mean) <= fraction * mean);
  }

  totalMoves(): number {
    return [...this.moves.values()].reduce((a, b) => a + b, 0);
  }
}

describe('throughput balancing (planMove and LeaseTaker in throughput mode, fake store and clock)', () => {
  it('skewed load on 4 workers converges within ±20% of the mean, each lease moved at most once, then stays', async () => {
    const fleet = new Fleet(skewedRates(), ['a', 'b', 'c', 'd']);
    await fleet.create();
    let rounds = 0;
    while (!fleet.withinOfMean(0.2) || fleet.loads().reduce((a, b) => a + b, 0) < 43) {
      await fleet.round();
      rounds++;
      expect(rounds).toBeLessThan(60);
    }
    // One move per cycle across the fleet, each one useful: no lease is moved twice on the way.
    expect(Math.max(0, ...fleet.moves.values())).toBeLessThanOrEqual(1);
    const movesAtConvergence = fleet.totalMoves();
    for (let i = 0; i < 60; i++) await fleet.round(); // 150 s: more than two cooldowns
    expect(fleet.withinOfMean(0.2)).toBe(true);
    expect(fleet.totalMoves() - movesAtConvergence).toBeLessThanOrEqual(2); // settling, never ping-pong
    expect(Math.max(0, ...fleet.moves.values())).toBeLessThanOrEqual(1);
  });

  it('count mode on the same load balances counts and leaves the hot worker far above the mean', async () => {
    const fleet = new Fleet(skewedRates(), ['a', 'b', 'c', 'd'], 'count');
    await fleet.create();
    for (let i = 0; i < 30; i++) await fleet.round();
    const counts = fleet.workers.map((w) => w.renewer.size).sort();
    expect(counts).toEqual([8, 8, 9, 9]);
    const loads = fleet.loads();
    expect(Math.max(...loads) / Math.min(...loads)).toBeGreaterThan(1.5);
  });

  it('measurement noise of ±10% moves no lease twice within the cooldown and keeps the balance', async () => {
    const fleet = new Fleet(skewedRates(), ['a', 'b', 'c', 'd'], 'throughput', 0.1);
    await fleet.create();
    for (let i = 0; i < 40; i++) await fleet.round();
    const lastMove = new Map<string, number>();
    const before = new Map(fleet.moves);
    for (let i = 0; i < 80; i++) {
      await fleet.round();
      for (const [key, count] of fleet.moves) {
        if (count === (before.get(key) ?? 0)) continue;
        const previous = lastMove.get(key);
        if (previous !== undefined) expect(fleet.clock.now - previous).toBeGreaterThanOrEqual(COOLDOWN);
        lastMove.set(key, fleet.clock.now);
        before.set(key, count);
      }
    }
    expect(fleet.withinOfMean(0.2)).toBe(true);
  });

  it('a worker that dies stalls nobody: its leases are taken after failover and the load rebalances', async () => {
    const fleet = new Fleet(skewedRates(), ['a', 'b', 'c', 'd']);
    await fleet.create();
    for (let i = 0; i < 30; i++) await fleet.round();
    expect(fleet.withinOfMean(0.2)).toBe(true);
    const victim = fleet.workers.find((w) => w.renewer.heldKeys().includes('shard-hot'));
    if (!victim) throw new Error('nobody holds the hot shard');
    victim.alive = false; // SIGKILL: no release, no more renewals
    const diedAt = fleet.clock.now;
    while (fleet.loads().reduce((a, b) => a + b, 0) < 43) {
      await fleet.round();
      // failover (10 s) plus one cycle (2.5 s), plus one round for the renewals to date the expiry
      expect(fleet.clock.now - diedAt).toBeLessThanOrEqual(FAILOVER + 2 * 2_500);
    }
    for (let i = 0; i < 30; i++) await fleet.round();
    expect(fleet.withinOfMean(0.2)).toBe(true);
  });

  it('an idle fleet is balanced by count; a joining worker gets its share by graceful handoffs', async () => {
    const rates = new Map<string, number>();
    for (let i = 0; i < 12; i++) rates.set(`shard-${i}`, 0);
    const fleet = new Fleet(rates, ['a', 'b', 'c']);
    await fleet.create();
    for (let i = 0; i < 10; i++) await fleet.round();
    fleet.workers.push(worker(fleet.store, 'd', fleet.clock, 'throughput'));
    for (let i = 0; i < 20; i++) await fleet.round();
    expect(fleet.workers.map((w) => w.renewer.size)).toEqual([3, 3, 3, 3]);
  });

  it('nothing moves while a live lease is unmeasured, and the taker says it is waiting (to look again soon)', async () => {
    const rates = new Map<string, number>([
      ['shard-0', 1],
      ['shard-1', 1],
      ['shard-2', 1],
      ['shard-3', 1],
    ]);
    const fleet = new Fleet(rates, ['a']);
    await fleet.create();
    const [a] = fleet.workers;
    if (!a) throw new Error('no worker');
    await a.taker.takeLeases(new Set(), 1, []);
    expect(a.renewer.size).toBe(4);
    // b joins; nothing is measured yet: no move, and a knows it waits.
    fleet.workers.push(worker(fleet.store, 'b', fleet.clock, 'throughput'));
    await a.taker.takeLeases(new Set(), 2, ['b']);
    expect(a.taker.balancingWaits).toBe(true);
    expect([...fleet.store.leases.values()].every((lease) => lease.checkpointOwner === undefined)).toBe(true);
    // Measured (the rounds write every held lease's rate): a hands over to b, and no longer waits.
    for (let i = 0; i < 10; i++) await fleet.round();
    expect(a.taker.balancingWaits).toBe(false);
    expect(fleet.workers.map((w) => w.renewer.size)).toEqual([2, 2]);
  });

  it('planMove: a hot shard alone is never moved; only the plan named worker acts; the margin stops tiny moves', () => {
    const base = { workers: ['a', 'b'], tolerance: 0.05, movable: () => true };
    const hotAlone = [
      { leaseKey: 'hot', owner: 'a', kbps: 10 },
      { leaseKey: 'x', owner: 'b', kbps: 1 },
    ];
    expect(planMove({ ...base, me: 'a', leases: hotAlone })).toBeUndefined();
    const uneven = [
      { leaseKey: 'p', owner: 'a', kbps: 4 },
      { leaseKey: 'q', owner: 'a', kbps: 2 },
      { leaseKey: 'r', owner: 'a', kbps: 1 },
      { leaseKey: 's', owner: 'b', kbps: 1 },
    ];
    // a = 7, b = 1: half the gap is 3; p (4) and q (2) are as close, the key breaks the tie
    expect(planMove({ ...base, me: 'a', leases: uneven })).toEqual({ leaseKey: 'p', to: 'b', kbps: 4 });
    expect(planMove({ ...base, me: 'b', leases: uneven })).toBeUndefined();
    const nearlyEven = [
      { leaseKey: 'p', owner: 'a', kbps: 5.1 },
      { leaseKey: 'q', owner: 'b', kbps: 4.9 },
    ];
    expect(planMove({ ...base, me: 'a', leases: nearlyEven })).toBeUndefined();
    // p cooling down: the next best
    expect(planMove({ ...base, me: 'a', leases: uneven, movable: (key) => key !== 'p' })).toEqual({
      leaseKey: 'q',
      to: 'b',
      kbps: 2,
    });
    // A lease of a live worker not measured yet: nobody moves anything until its owner has written a value
    // (within one averaging window); a lease of a dead or foreign owner does not hold the plan up.
    const unmeasured = [...uneven, { leaseKey: 't', owner: 'b', kbps: undefined }];
    expect(planMove({ ...base, me: 'a', leases: unmeasured })).toBeUndefined();
    const foreign = [...uneven, { leaseKey: 't', owner: 'java', kbps: undefined }];
    expect(planMove({ ...base, me: 'a', leases: foreign })).toEqual({ leaseKey: 'p', to: 'b', kbps: 4 });
  });
});
