import type { Lease, NewLease } from './Lease.js';
import type { LeaseStore } from './LeaseStore.js';
import { type LeaseKey, leaseKeyOf, shardOf } from './leaseKeys.js';

/**
 * One stream's leases, seen by shard id: the lease store of a single stream. The shard sync, the lease
 * cleanup and the parent checks work on shard ids and lineage (`parentShardId` and `childShardIds` hold shard
 * ids in both KCL formats); this view gives them exactly that, and writes through to the table under the lease
 * keys, with the `streamName` and `shardId` attributes on new multi-stream items. With `streamId` undefined
 * (a single-stream application) lease key and shard id are the same and it passes everything through.
 */
export class StreamLeaseScope implements LeaseStore {
  /** Serialized stream identity, or `undefined` for the one stream of a single-stream application. */
  readonly streamId: string | undefined;
  readonly #store: LeaseStore;

  constructor(store: LeaseStore, streamId: string | undefined) {
    this.#store = store;
    this.streamId = streamId;
  }

  /** The table's key of one of this stream's shards. */
  keyOf(shardId: string): LeaseKey {
    return leaseKeyOf({ streamId: this.streamId, shardId });
  }

  /** Whether a lease key belongs to this stream. */
  owns(leaseKey: LeaseKey): boolean {
    return this.streamId === undefined || shardOf(leaseKey).streamId === this.streamId;
  }

  /** This stream's leases among `leases` (a whole-table scan), keyed by shard id. */
  own(leases: readonly Lease[]): Lease[] {
    if (this.streamId === undefined) return [...leases];
    const own: Lease[] = [];
    for (const lease of leases) if (this.owns(lease.leaseKey)) own.push(this.#toShard(lease));
    return own;
  }

  ensureTable(): Promise<void> {
    return this.#store.ensureTable();
  }

  async listLeases(): Promise<Lease[]> {
    return this.own(await this.#store.listLeases());
  }

  async getLease(shardId: string): Promise<Lease | undefined> {
    return this.#toShardOrNot(await this.#store.getLease(this.keyOf(shardId)));
  }

  createLeaseIfNotExists(lease: NewLease): Promise<boolean> {
    if (this.streamId === undefined) return this.#store.createLeaseIfNotExists(lease);
    return this.#store.createLeaseIfNotExists({
      ...lease,
      leaseKey: this.keyOf(lease.leaseKey),
      streamName: this.streamId,
      shardId: lease.leaseKey,
    });
  }

  async renewLease(lease: Lease, holder: string): Promise<Lease | undefined> {
    return this.#toShardOrNot(await this.#store.renewLease(this.#toKey(lease), holder));
  }

  async takeLease(lease: Lease, owner: string): Promise<Lease | undefined> {
    return this.#toShardOrNot(await this.#store.takeLease(this.#toKey(lease), owner));
  }

  requestHandoff(lease: Lease, newOwner: string): Promise<boolean> {
    return this.#store.requestHandoff(this.#toKey(lease), newOwner);
  }

  transferLease(lease: Lease, holder: string): Promise<boolean> {
    return this.#store.transferLease(this.#toKey(lease), holder);
  }

  evictLease(lease: Lease, owner: string): Promise<boolean> {
    return this.#store.evictLease(this.#toKey(lease), owner);
  }

  async checkpoint(
    lease: Lease,
    owner: string,
    checkpoint: string,
    subSequenceNumber: number,
  ): Promise<Lease | undefined> {
    const written = await this.#store.checkpoint(this.#toKey(lease), owner, checkpoint, subSequenceNumber);
    return this.#toShardOrNot(written);
  }

  addChildShardIds(shardId: string, childShardIds: readonly string[]): Promise<void> {
    return this.#store.addChildShardIds(this.keyOf(shardId), childShardIds);
  }

  deleteLease(lease: Lease): Promise<boolean> {
    return this.#store.deleteLease(this.#toKey(lease));
  }

  #toShard(lease: Lease): Lease {
    return this.streamId === undefined ? lease : { ...lease, leaseKey: shardOf(lease.leaseKey).shardId };
  }

  #toShardOrNot(lease: Lease | undefined): Lease | undefined {
    return lease === undefined ? undefined : this.#toShard(lease);
  }

  #toKey(lease: Lease): Lease {
    return this.streamId === undefined ? lease : { ...lease, leaseKey: this.keyOf(lease.leaseKey) };
  }
}
