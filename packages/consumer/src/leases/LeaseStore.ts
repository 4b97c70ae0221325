import type { Lease, NewLease } from './Lease.js';

/**
 * Storage for leases. Every write is a single-item conditional write on `leaseCounter` (or the owner for
 * evict). A lost race is a return value (`undefined` / `false`), never an exception; exceptions mean the
 * store itself failed (throttling, network, permissions) and may be retried.
 */
export interface LeaseStore {
  /** Creates the table if it does not exist and waits until it is usable. */
  ensureTable(): Promise<void>;
  /** Every lease (a consistent scan, following pagination). */
  listLeases(): Promise<Lease[]>;
  getLease(leaseKey: string): Promise<Lease | undefined>;
  /**
   * The keys of the leases `owner` owns, from an index (eventually consistent), or `undefined` when there is
   * none; then callers scan. Optional: a store without it is always scanned.
   */
  listLeaseKeysOwnedBy?(owner: string): Promise<string[] | undefined>;
  /** Creates the lease unless one with that key exists. Returns whether this call created it. */
  createLeaseIfNotExists(lease: NewLease): Promise<boolean>;
  /**
   * Bumps the counter if it is still `lease.leaseCounter` and `holder` still holds it (as owner, or as
   * `checkpointOwner` during a handoff). Returns the lease as written, which tells the holder whether a
   * handoff has been asked for (`checkpointOwner === holder`).
   */
  renewLease(lease: Lease, holder: string): Promise<Lease | undefined>;
  /**
   * Sets the owner to `owner` if the counter is still `lease.leaseCounter` (take of an unowned or expired
   * lease, or at the end of a handoff timeout); ends any handoff in progress.
   */
  takeLease(lease: Lease, owner: string): Promise<Lease | undefined>;
  /**
   * Asks the live owner for a lease (KCL 3.x graceful handoff): `leaseOwner = newOwner, checkpointOwner =
   * previous owner`, if the owner is still `lease.leaseOwner` and no handoff is in progress. The counter is not
   * bumped, so the previous owner keeps renewing it until it transfers. Returns whether the request landed.
   */
  requestHandoff(lease: Lease, newOwner: string): Promise<boolean>;
  /**
   * The previous owner's end of a handoff: removes `checkpointOwner` (so the lease belongs to the new owner)
   * and bumps the counter, if `holder` is still the `checkpointOwner` and the counter is `lease.leaseCounter`.
   */
  transferLease(lease: Lease, holder: string): Promise<boolean>;
  /** Removes the owner if it is still `owner`. Returns false when someone else owns it by now. */
  evictLease(lease: Lease, owner: string): Promise<boolean>;
  /** Writes a checkpoint if the counter is still `lease.leaseCounter` and `holder` still holds it. */
  checkpoint(
    lease: Lease,
    owner: string,
    checkpoint: string,
    subSequenceNumber: number,
  ): Promise<Lease | undefined>;
  /** Adds child shard ids to a lease (idempotent; no counter condition, as in the KCL). */
  addChildShardIds(leaseKey: string, childShardIds: readonly string[]): Promise<void>;
  /**
   * Deletes the lease if it is still exactly as read: same `leaseCounter` and `checkpoint`, and the same
   * owner (or still unowned). Returns whether this call deleted it; `false` when it changed meanwhile or is
   * gone already (deleted by another worker, or by an earlier attempt whose response was lost).
   */
  deleteLease(lease: Lease): Promise<boolean>;
}
