import { isFinished, type Lease } from './Lease.js';
import type { LeaseRenewer } from './LeaseRenewer.js';
import type { LeaseStore } from './LeaseStore.js';

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
}

/** A lease this worker just acquired. */
export interface TakenLease {
  lease: Lease;
  /** True when it was taken from a live worker (stolen) rather than an expired or unowned lease. */
  stolen: boolean;
}

interface Observation {
  counter: number;
  /** Local monotonic time at which this worker first saw the current counter value. */
  seenAt: number;
}

/**
 * Decides which leases this worker should take, KCL 2.x style: target = ceil(active leases / live workers),
 * expired or unowned leases first, otherwise steal from the most loaded worker. Finished (SHARD_END) leases
 * need no worker and are left out of the arithmetic.
 */
export class LeaseTaker {
  readonly #options: LeaseTakerOptions;
  readonly #seen = new Map<string, Observation>();

  constructor(options: LeaseTakerOptions) {
    this.#options = options;
  }

  /** One taker cycle: scan, judge expiry by our own clock, take or steal. Store errors reject the scan. */
  async takeLeases(): Promise<TakenLease[]> {
    const { workerId, now } = this.#options;
    const leases = await this.#options.store.listLeases();
    // Dated when the scan returned, not when it started: the holder dates its lease from when its write was
    // sent, so the observer's date must never be the earlier one.
    this.#observe(leases, now());
    const busy = this.#options.isBusy ?? (() => false);

    const held = new Set(this.#options.renewer.heldKeys());
    const active = leases.filter((lease) => !isFinished(lease));
    const available: Lease[] = [];
    const load = new Map<string, Lease[]>();
    for (const lease of active) {
      if (held.has(lease.leaseKey)) continue;
      // Ours in the table but not held here (we let it expire locally): re-take it like an expired one.
      if (lease.leaseOwner === undefined || lease.leaseOwner === workerId || this.#expired(lease)) {
        if (!busy(lease.leaseKey)) available.push(lease);
      } else {
        const owned = load.get(lease.leaseOwner) ?? [];
        owned.push(lease);
        load.set(lease.leaseOwner, owned);
      }
    }
    const myCount = active.filter((lease) => held.has(lease.leaseKey)).length;
    const workers = load.size + 1;
    let target = active.length === 0 ? 0 : Math.ceil(active.length / workers);
    target = Math.min(target, this.#options.maxLeasesForWorker);
    const needed = target - myCount;
    if (needed <= 0) return [];

    if (available.length > 0) {
      return this.#take(this.#shuffle(available).slice(0, needed), false);
    }
    // Nothing free: steal from the most loaded worker, but never below the target (no ping-pong).
    let victim: Lease[] = [];
    for (const owned of load.values()) if (owned.length > victim.length) victim = owned;
    let steal = 0;
    if (victim.length > target) steal = Math.min(needed, victim.length - target);
    else if (victim.length === target && needed > 1) steal = 1;
    steal = Math.min(steal, this.#options.maxLeasesToStealAtOnce);
    if (steal <= 0) return [];
    const candidates = victim.filter((lease) => !busy(lease.leaseKey));
    return this.#take(this.#shuffle(candidates).slice(0, steal), true);
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

  async #take(candidates: readonly Lease[], stolen: boolean): Promise<TakenLease[]> {
    const taken: TakenLease[] = [];
    for (const lease of candidates) {
      const sentAt = this.#options.now();
      try {
        const result = await this.#options.store.takeLease(lease, this.#options.workerId);
        if (!result) continue; // lost the race to another worker: fine, next cycle re-evaluates
        this.#options.renewer.add(result, sentAt);
        taken.push({ lease: result, stolen });
      } catch (error) {
        this.#options.onError?.(error, lease.leaseKey);
      }
    }
    return taken;
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
