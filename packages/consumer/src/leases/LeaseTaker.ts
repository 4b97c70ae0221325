import { actualOwner, isFinished, type Lease } from './Lease.js';
import { LeaseAcquirer, type TakenLease } from './LeaseAcquirer.js';
import type { LeaseRenewer } from './LeaseRenewer.js';
import type { LeaseStore } from './LeaseStore.js';
import { ThroughputBalancer } from './ThroughputBalancer.js';

export type { TakenLease } from './LeaseAcquirer.js';

/**
 * How leases are spread: `'count'` (KCL 2.x: even lease counts; a worker below its share asks the most loaded
 * one for a lease) or `'throughput'` (even `throughputKBps`: the worker the shared plan names hands a lease to
 * the least loaded one; see `planMove`).
 */
export type BalancingMode = 'throughput' | 'count';

/** Options for {@link LeaseTaker}. */
export interface LeaseTakerOptions {
  store: LeaseStore;
  renewer: LeaseRenewer;
  workerId: string;
  failoverTimeMs: number;
  maxLeasesForWorker: number;
  maxLeasesToStealAtOnce: number;
  now: () => number;
  random?: () => number;
  /**
   * Whether a shard still has a consumer on this worker (winding down after a lost or released lease). Such a
   * lease is neither taken nor stolen until that consumer has finished, so two consumers never run one shard.
   */
  isBusy?: (leaseKey: string) => boolean;
  onError?: (error: unknown, leaseKey: string) => void;
  /**
   * How long a worker that asked for a lease waits for the owner to hand it over before taking it anyway
   * (counted from the request, on this worker's clock, plus `failoverTimeMs`: the owner itself gives up
   * waiting for its processor after this long and transfers).
   */
  handoffTimeoutMs: number;
  /** A handoff this worker asked for was accepted by the table (the owner will transfer it). */
  onHandoffRequested?: (lease: Lease) => void;
  /** @defaultValue `'count'` */
  balancing?: BalancingMode;
  /** Throughput mode: tolerated deviation from the fair share, a fraction (see `planMove`). @defaultValue `0.05` */
  balanceTolerance?: number;
  /** Throughput mode: a lease acquired less than this long ago (ms) is never handed on. @defaultValue `60_000` */
  balanceCooldownMs?: number;
  /** Throughput mode: this worker handed one of its leases to `to` to balance the load. */
  onBalanceMove?: (lease: Lease, to: string) => void;
  /** A lease was taken (for the throughput meter, which starts from the value the item carries). */
  onTaken?: (lease: Lease) => void;
}

const NO_WORKERS: ReadonlySet<string> = new Set();

interface Observation {
  counter: number;
  /** Local monotonic time at which this worker first saw the current counter value. */
  seenAt: number;
}

/**
 * Decides which leases this worker should take, KCL 2.x arithmetic with KCL 3.x graceful handoff: target =
 * ceil(active leases / live workers); unowned or expired leases are taken first; otherwise this worker asks
 * the most loaded worker for one (`requestHandoff`), and that worker finishes its batch, checkpoints and
 * transfers it, so a balancing move never redoes work. A lease asked for is taken anyway once the owner has
 * let it expire or has not transferred it within `handoffTimeoutMs + failoverTimeMs`. Finished (SHARD_END)
 * leases need no worker and are left out of the arithmetic.
 */
export class LeaseTaker {
  readonly #options: LeaseTakerOptions;
  readonly #seen = new Map<string, Observation>();
  /**
   * Whether the last cycle tried to change ownership (a take, won or lost, or a handoff request): balancing is
   * under way, so the next cycle should come soon rather than at the slow periodic scan.
   */
  lastCycleActed = false;
  /** Throughput mode: the last cycle waited for a live worker's lease to be measured (see `planMove`). */
  get balancingWaits(): boolean {
    return this.#balancer?.waiting ?? false;
  }
  /** The leases as the last scan read them (shard sync reuses them instead of scanning again). */
  lastScan: readonly Lease[] | undefined;
  /** Handoffs this worker asked for: lease key -> when (local clock) it first knew of the request. */
  readonly #asked = new Map<string, number>();
  readonly #acquirer: LeaseAcquirer;
  readonly #balancer: ThroughputBalancer | undefined;

  constructor(options: LeaseTakerOptions) {
    this.#options = options;
    this.#acquirer = new LeaseAcquirer(options);
    this.#balancer =
      options.balancing === 'throughput'
        ? new ThroughputBalancer({
            renewer: options.renewer,
            workerId: options.workerId,
            now: options.now,
            tolerance: options.balanceTolerance ?? 0.05,
            cooldownMs: options.balanceCooldownMs ?? 60_000,
            handedOverAt: (key) => this.#acquirer.handedOverAt(key),
            onBalanceMove: options.onBalanceMove,
            onError: options.onError,
          })
        : undefined;
  }

  /**
   * One taker cycle: scan, judge expiry by our own clock, take or ask. Store errors reject the scan. The leases
   * of `deadWorkers` (confirmed dead by their heartbeats) count as expired whatever their counters say.
   * `liveWorkers` (this one included, by heartbeats) counts workers that hold nothing yet, so a fleet that
   * starts together takes even shares at once instead of moving most leases later by handoff.
   */
  async takeLeases(
    deadWorkers: ReadonlySet<string> = NO_WORKERS,
    liveWorkers = 1,
    liveWorkerIds?: readonly string[],
  ): Promise<TakenLease[]> {
    const { workerId, now } = this.#options;
    this.lastCycleActed = false;
    const leases = await this.#options.store.listLeases();
    this.lastScan = leases;
    // Dated when the scan returned, not when it started: the holder dates its lease from when its write was
    // sent, so the observer's date must never be the earlier one.
    const scannedAt = now();
    this.#observe(leases, scannedAt);
    const busy = this.#options.isBusy ?? (() => false);
    const expired = (lease: Lease): boolean => {
      const holder = actualOwner(lease);
      return (holder !== undefined && deadWorkers.has(holder)) || this.#expired(lease);
    };

    const held = new Set(this.#options.renewer.heldKeys());
    const active = leases.filter((lease) => !isFinished(lease));
    /** Leases the table gives to this worker that it does not process yet: handed over, or asked for. */
    const mineToTake: Array<{ lease: Lease; forced: boolean }> = [];
    const free: Lease[] = [];
    const load = new Map<string, Lease[]>();
    let mine = 0;
    const asked = new Set<string>();
    for (const lease of active) {
      const key = lease.leaseKey;
      const owner = lease.leaseOwner;
      if (lease.checkpointOwner !== undefined) {
        if (owner === workerId) {
          // Asked for by us: ours once transferred; taken anyway if the owner died or never transfers.
          mine++;
          asked.add(key);
          const since = this.#asked.get(key) ?? scannedAt;
          this.#asked.set(key, since);
          const overdue = scannedAt - since >= this.#options.handoffTimeoutMs + this.#options.failoverTimeMs;
          if ((expired(lease) || overdue) && !busy(key)) mineToTake.push({ lease, forced: !expired(lease) });
        } else if (lease.checkpointOwner !== workerId && expired(lease) && !busy(key)) {
          free.push(lease); // its previous owner died mid-handoff: free for anyone (as in the KCL 3.5)
        } else if (owner !== undefined) {
          group(load, owner, lease);
        }
        continue;
      }
      if (held.has(key)) {
        mine++;
        continue;
      }
      if (owner === workerId) {
        // Handed over to us, or ours in the table but let expire locally: take it (back).
        mine++;
        if (!busy(key)) mineToTake.push({ lease, forced: false });
      } else if (owner === undefined || expired(lease)) {
        if (!busy(key)) free.push(lease);
      } else {
        group(load, owner, lease);
      }
    }
    for (const key of this.#asked.keys()) if (!asked.has(key)) this.#asked.delete(key);
    this.#acquirer.retain(held);

    const taken = await this.#take(
      mineToTake.map(({ lease }) => lease),
      (lease) => mineToTake.some((entry) => entry.lease === lease && entry.forced),
    );
    const workers = Math.max(load.size + 1, liveWorkers);
    let target = active.length === 0 ? 0 : Math.ceil(active.length / workers);
    target = Math.min(target, this.#options.maxLeasesForWorker);
    const needed = target - mine;
    if (needed > 0 && free.length > 0) {
      taken.push(...(await this.#take(this.#shuffle(free).slice(0, needed), () => false)));
      return taken;
    }
    if (this.#balancer) {
      if (await this.#balancer.step(active, expired, held, liveWorkerIds)) this.lastCycleActed = true;
      return taken;
    }
    if (needed <= 0) return taken;
    // Nothing free: ask the most loaded worker, but never below the target (no ping-pong).
    let victim: Lease[] = [];
    for (const owned of load.values()) if (owned.length > victim.length) victim = owned;
    let ask = 0;
    if (victim.length > target) ask = Math.min(needed, victim.length - target);
    else if (victim.length === target && needed > 1) ask = 1;
    ask = Math.min(ask, this.#options.maxLeasesToStealAtOnce);
    if (ask <= 0) return taken;
    const candidates = victim.filter((lease) => lease.checkpointOwner === undefined && !busy(lease.leaseKey));
    for (const lease of this.#shuffle(candidates).slice(0, ask)) {
      try {
        this.lastCycleActed = true;
        if (await this.#options.store.requestHandoff(lease, workerId)) {
          this.#asked.set(lease.leaseKey, now());
          this.#options.onHandoffRequested?.(lease);
        }
      } catch (error) {
        this.#options.onError?.(error, lease.leaseKey);
      }
    }
    return taken;
  }

  /**
   * Takes the leases the owner index says are this worker's but it does not process yet (handed over to it),
   * without a scan. Returns `undefined` when the store has no such index (then the caller scans).
   */
  takeOwn(): Promise<TakenLease[] | undefined> {
    this.lastCycleActed = false;
    return this.#acquirer.takeOwn();
  }

  /** Whether the lease's counter has not moved for failoverTimeMs as seen by this worker. */
  #expired(lease: Lease): boolean {
    const seen = this.#seen.get(lease.leaseKey);
    return seen === undefined || this.#options.now() - seen.seenAt >= this.#options.failoverTimeMs;
  }

  #observe(leases: readonly Lease[], scannedAt: number): void {
    const keys = new Set<string>();
    for (const lease of leases) {
      keys.add(lease.leaseKey);
      const previous = this.#seen.get(lease.leaseKey);
      if (previous?.counter === lease.leaseCounter) continue;
      // A lease seen for the first time gets a full failover period before we call it expired, so a
      // starting worker does not grab every owned lease; unowned leases are available regardless.
      this.#seen.set(lease.leaseKey, { counter: lease.leaseCounter, seenAt: scannedAt });
    }
    for (const key of this.#seen.keys()) if (!keys.has(key)) this.#seen.delete(key);
  }

  async #take(candidates: readonly Lease[], stolen: (lease: Lease) => boolean): Promise<TakenLease[]> {
    if (candidates.length > 0) this.lastCycleActed = true;
    return this.#acquirer.take(candidates, stolen);
  }

  #shuffle<T>(items: readonly T[]): T[] {
    const random = this.#options.random ?? Math.random;
    const copy = [...items];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
    }
    return copy;
  }
}

function group(load: Map<string, Lease[]>, owner: string, lease: Lease): void {
  const owned = load.get(owner);
  if (owned) owned.push(lease);
  else load.set(owner, [lease]);
}
