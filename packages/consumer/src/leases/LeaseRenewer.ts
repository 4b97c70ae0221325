import { forEachLimited } from '../backoff.js';
import type { Lease } from './Lease.js';
import type { LeaseStore } from './LeaseStore.js';

/**
 * Why a held lease was dropped: `taken` by another worker, `expired` (renewals failed for failoverTimeMs),
 * `released` (evicted by this worker), or `handed-off` (transferred to the worker that asked for it).
 */
export type LeaseLossReason = 'taken' | 'expired' | 'released' | 'handed-off';

interface HeldLease {
  lease: Lease;
  /** Local monotonic time at which the last successful write on this lease was *sent*. */
  lastWriteSentAt: number;
  /** Serializes writes on one lease so renewals and checkpoints never race each other on the counter. */
  chain: Promise<unknown>;
}

/** Options for {@link LeaseRenewer}. */
export interface LeaseRenewerOptions {
  store: LeaseStore;
  workerId: string;
  failoverTimeMs: number;
  renewIntervalMs: number;
  /** Renewals in flight at once. */
  maxConcurrentRenewals: number;
  now: () => number;
  onLost: (lease: Lease, reason: LeaseLossReason) => void;
  /**
   * Another worker asked for this lease (a write came back with `checkpointOwner` = this worker): finish the
   * batch in flight, checkpoint, then {@link LeaseRenewer.release} it, which transfers it.
   */
  onHandoffRequested?: (lease: Lease) => void;
  onRenewed?: () => void;
  /**
   * Also hold leases only while this worker's last heartbeat (see {@link LeaseRenewer.heartbeatSent}) was sent
   * less than `failoverTimeMs` ago: other workers judge a worker dead when its heartbeat stands still that long
   * and may then take its leases, so it must have stopped by then. @defaultValue `false`
   */
  fenceOnHeartbeat?: boolean;
  onError?: (error: unknown, leaseKey: string) => void;
}

/**
 * Keeps this worker's leases alive and is the single writer for them. A lease counts as held only while its
 * last successful write was sent less than `failoverTimeMs` ago by this worker's clock; observers judge
 * expiry from when they *saw* the counter move, which is later, so two workers never both believe they hold
 * a lease.
 */
export class LeaseRenewer {
  readonly #options: LeaseRenewerOptions;
  readonly #held = new Map<string, HeldLease>();
  #heartbeatSentAt = Number.NEGATIVE_INFINITY;

  constructor(options: LeaseRenewerOptions) {
    this.#options = options;
  }

  /** Starts tracking a lease this worker has just taken (the take write was sent at `sentAt`). */
  add(lease: Lease, sentAt: number): void {
    this.#held.set(lease.leaseKey, { lease, lastWriteSentAt: sentAt, chain: Promise.resolve() });
  }

  heldKeys(): string[] {
    return [...this.#held.keys()];
  }

  get size(): number {
    return this.#held.size;
  }

  /** A heartbeat sent at `sentAt` (local monotonic time) landed: leases stay held until `sentAt + failoverTimeMs`. */
  heartbeatSent(sentAt: number): void {
    if (sentAt > this.#heartbeatSentAt) this.#heartbeatSentAt = sentAt;
  }

  /** Whether the heartbeat fence still lets this worker hold leases (always, without `fenceOnHeartbeat`). */
  get heartbeatCurrent(): boolean {
    return (
      !this.#options.fenceOnHeartbeat ||
      this.#options.now() - this.#heartbeatSentAt < this.#options.failoverTimeMs
    );
  }

  /** The current lease if this worker still holds it (and has renewed it, and its heartbeat, in time). */
  get(leaseKey: string): Lease | undefined {
    const held = this.#held.get(leaseKey);
    if (!held) return undefined;
    if (!this.heartbeatCurrent) {
      // Others may already count this worker as dead: every lease goes, not just this one.
      for (const key of [...this.#held.keys()]) this.#drop(key, 'expired');
      return undefined;
    }
    if (this.#options.now() - held.lastWriteSentAt >= this.#options.failoverTimeMs) {
      this.#drop(leaseKey, 'expired');
      return undefined;
    }
    return held.lease;
  }

  /**
   * Renews every held lease that has not been written (renewed or checkpointed) within the renew interval:
   * a checkpoint moves the counter just as well, so busy shards cost no extra renewal writes.
   */
  async renewAll(): Promise<void> {
    const { failoverTimeMs, renewIntervalMs } = this.#options;
    // Due after 0.9 intervals, or earlier when the next tick (an interval plus this round's duration away)
    // might come too late: with long intervals (up to failoverTimeMs / 2) a lease just short of 0.9
    // intervals would otherwise be renewed only ~1.9 intervals after its last write.
    const dueAfter = Math.min(renewIntervalMs * 0.9, failoverTimeMs - renewIntervalMs * 1.5);
    const due = [...this.#held.entries()].filter(
      ([, held]) => this.#options.now() - held.lastWriteSentAt >= dueAfter,
    );
    await forEachLimited(due, this.#options.maxConcurrentRenewals, async ([leaseKey]) => {
      await this.write(leaseKey, (lease) =>
        this.#options.store.renewLease(lease, this.#options.workerId),
      ).then(
        (result) => {
          if (result) this.#options.onRenewed?.();
        },
        (error: unknown) => {
          this.#options.onError?.(error, leaseKey);
          // A renewal that keeps failing ends in local expiry; `get` drops it and reports the loss.
          this.get(leaseKey);
        },
      );
    });
  }

  /**
   * Runs one conditional write on a held lease, serialized with every other write on it. Resolves to the
   * written lease, or `undefined` when the lease is no longer ours (the loss is reported once). Store errors
   * (throttling, network) reject and leave the lease held.
   */
  write(leaseKey: string, fn: (lease: Lease) => Promise<Lease | undefined>): Promise<Lease | undefined> {
    const held = this.#held.get(leaseKey);
    if (!held) return Promise.resolve(undefined);
    const run = held.chain.then(async () => {
      // Bound to this holding of the lease: once it is dropped, a write queued before (or running across)
      // the drop must neither run against nor update a lease taken again since under the same key.
      if (this.#held.get(leaseKey) !== held) return undefined;
      const lease = this.get(leaseKey);
      if (!lease) return undefined;
      const sentAt = this.#options.now();
      const written = await fn(lease);
      if (this.#held.get(leaseKey) !== held) return undefined;
      if (!written) {
        this.#drop(leaseKey, 'taken');
        return undefined;
      }
      const handoffBefore = held.lease.checkpointOwner === this.#options.workerId;
      held.lease = written;
      held.lastWriteSentAt = sentAt;
      if (!handoffBefore && written.checkpointOwner === this.#options.workerId) {
        this.#options.onHandoffRequested?.(written);
      }
      return written;
    });
    held.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * Gives a lease up in the table so another worker can take it at once: transferred to the worker that asked
   * for it when a handoff is in progress, else evicted (no owner).
   */
  async release(leaseKey: string): Promise<void> {
    const held = this.#held.get(leaseKey);
    if (!held) return;
    await held.chain;
    if (this.#held.get(leaseKey) !== held) return; // dropped meanwhile (and perhaps taken again since)
    const lease = held.lease;
    this.#held.delete(leaseKey);
    const { store, workerId } = this.#options;
    const handingOff = lease.checkpointOwner === workerId;
    // Reported (and the shard's checkpointer closed) before the round trip, not after it. Even if the write
    // fails the lease is no longer processed here; it then expires normally.
    this.#options.onLost(lease, handingOff ? 'handed-off' : 'released');
    if (handingOff) await store.transferLease(lease, workerId);
    else await store.evictLease(lease, workerId);
  }

  /**
   * Hands a held lease over to `to` (throughput balancing, this worker's own decision): the table records the
   * handoff, then a renewal right away brings it back with `checkpointOwner` = this worker, which starts the
   * usual graceful handoff (`onHandoffRequested`: finish the batch, checkpoint, transfer). Returns whether the
   * handoff was recorded.
   */
  async handOver(leaseKey: string, to: string): Promise<boolean> {
    const { store, workerId } = this.#options;
    if (this.#held.get(leaseKey)?.lease.checkpointOwner !== undefined) return false;
    let recorded = false;
    await this.write(leaseKey, async (lease) => {
      recorded = await store.requestHandoff(lease, to);
      return store.renewLease(lease, workerId);
    });
    return recorded;
  }

  /** Whether a held lease is being handed off (another worker asked for it). */
  isHandingOff(leaseKey: string): boolean {
    return this.#held.get(leaseKey)?.lease.checkpointOwner === this.#options.workerId;
  }

  #drop(leaseKey: string, reason: LeaseLossReason): void {
    const held = this.#held.get(leaseKey);
    if (!held) return;
    this.#held.delete(leaseKey);
    this.#options.onLost(held.lease, reason);
  }
}
