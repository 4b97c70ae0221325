import { isFinished, type Lease } from './Lease.js';
import type { LeaseRenewer } from './LeaseRenewer.js';
import type { LeaseStore } from './LeaseStore.js';

/** Options for {@link LeaseAcquirer}. */
export interface LeaseAcquirerOptions {
  store: LeaseStore;
  renewer: LeaseRenewer;
  workerId: string;
  now: () => number;
  /** Whether a shard still has a consumer on this worker (then its lease is not taken yet). */
  isBusy?: ((leaseKey: string) => boolean) | undefined;
  /** A lease was taken (for the throughput meter, which starts from the value the item carries). */
  onTaken?: ((lease: Lease) => void) | undefined;
  onError?: ((error: unknown, leaseKey: string) => void) | undefined;
}

/** A lease this worker just acquired. */
export interface TakenLease {
  lease: Lease;
  /**
   * True when it was taken from a live worker without its consent (a handoff that timed out); a lease handed
   * over gracefully, unowned or expired is not stolen.
   */
  stolen: boolean;
}

/**
 * Takes leases the taker chose, and the leases handed over to this worker that the owner index lists (without
 * a scan); the one place a take reaches the renewer. Remembers when each lease was handed over here, for the
 * balancing cooldown.
 */
export class LeaseAcquirer {
  readonly #options: LeaseAcquirerOptions;
  /** Leases handed over to this worker: lease key -> when (local clock) taken. */
  readonly #handedOverAt = new Map<string, number>();

  constructor(options: LeaseAcquirerOptions) {
    this.#options = options;
  }

  /** When a held lease was handed over to this worker (`undefined`: taken free or expired, or not held). */
  handedOverAt(leaseKey: string): number | undefined {
    return this.#handedOverAt.get(leaseKey);
  }

  /** Forgets leases no longer held. */
  retain(held: ReadonlySet<string>): void {
    for (const key of this.#handedOverAt.keys()) if (!held.has(key)) this.#handedOverAt.delete(key);
  }

  /**
   * Takes the leases the owner index says are this worker's but it does not process yet (handed over to it),
   * without a scan. Returns `undefined` when the store has no such index (then the caller scans).
   */
  async takeOwn(): Promise<TakenLease[] | undefined> {
    const { store, workerId, renewer } = this.#options;
    const keys = await store.listLeaseKeysOwnedBy?.(workerId);
    if (keys === undefined) return undefined;
    const held = new Set(renewer.heldKeys());
    const busy = this.#options.isBusy ?? (() => false);
    const mine: Lease[] = [];
    for (const key of keys) {
      if (held.has(key) || busy(key)) continue;
      // The index is eventually consistent: the item itself says whether the handoff is over.
      const lease = await store.getLease(key);
      if (lease?.leaseOwner === workerId && lease.checkpointOwner === undefined && !isFinished(lease))
        mine.push(lease);
    }
    return this.take(mine, () => false);
  }

  /** Takes each candidate; a lost race is skipped (the next cycle re-evaluates), a failure reported. */
  async take(candidates: readonly Lease[], stolen: (lease: Lease) => boolean): Promise<TakenLease[]> {
    const { store, workerId, renewer, now } = this.#options;
    const taken: TakenLease[] = [];
    for (const lease of candidates) {
      const sentAt = now();
      try {
        const result = await store.takeLease(lease, workerId);
        if (!result) continue;
        renewer.add(result, sentAt);
        // Handed over to us (a balancing move): not handed on again within the cooldown. Free leases may be.
        if (lease.leaseOwner === workerId) this.#handedOverAt.set(result.leaseKey, sentAt);
        this.#options.onTaken?.(result);
        taken.push({ lease: result, stolen: stolen(lease) });
      } catch (error) {
        this.#options.onError?.(error, lease.leaseKey);
      }
    }
    return taken;
  }
}
