import type { ChildShard, KinesisClient, Shard } from '@aws-sdk/client-kinesis';
import type { HashKeyRange } from '@shardline/aggregation';
import type { InitialPosition, StreamRef } from '../types.js';
import type { Lease } from './Lease.js';
import { LeaseCleaner, type LeaseCleanerOptions } from './LeaseCleaner.js';
import type { LeaseStore } from './LeaseStore.js';
import { ShardSyncer } from './ShardSyncer.js';
import { StreamLeaseScope } from './StreamLeaseScope.js';

/** Options for {@link StreamLeases}. */
export interface StreamLeasesOptions {
  kinesis: KinesisClient;
  /** The whole lease table. */
  store: LeaseStore;
  /** Serialized stream identity (multi-stream), or `undefined` for a single-stream application. */
  streamId: string | undefined;
  stream: StreamRef;
  initialPosition: InitialPosition;
  signal: AbortSignal;
  /** Lease cleanup for this stream; `undefined` turns it off. */
  cleanup: Omit<LeaseCleanerOptions, 'store' | 'kinesis' | 'stream' | 'signal'> | undefined;
}

/**
 * Everything per stream on the lease side: its shard sync and lease cleanup (each on the stream's own
 * listing and lineage), the hash ranges of its shards, and the child leases created at a shard end. All of it
 * works on shard ids through the stream's {@link StreamLeaseScope}.
 */
export class StreamLeases {
  readonly scope: StreamLeaseScope;
  readonly stream: StreamRef;
  readonly initialPosition: InitialPosition;
  readonly #syncer: ShardSyncer;
  readonly #cleaner: LeaseCleaner | undefined;
  readonly #hashRanges = new Map<string, HashKeyRange>();

  constructor(options: StreamLeasesOptions) {
    this.scope = new StreamLeaseScope(options.store, options.streamId);
    this.stream = options.stream;
    this.initialPosition = options.initialPosition;
    const initial = options.initialPosition;
    this.#syncer = new ShardSyncer({
      kinesis: options.kinesis,
      stream: options.stream,
      store: this.scope,
      initialCheckpoint: typeof initial === 'object' ? 'AT_TIMESTAMP' : initial,
      signal: options.signal,
    });
    this.#cleaner =
      options.cleanup === undefined
        ? undefined
        : new LeaseCleaner({
            ...options.cleanup,
            store: this.scope,
            kinesis: options.kinesis,
            stream: options.stream,
            signal: options.signal,
          });
  }

  listShards(): Promise<Shard[]> {
    return this.#syncer.listShards();
  }

  /**
   * Creates this stream's missing leases (on `scan`, a whole-table scan, when there is one); with `clean`,
   * then deletes its leases no longer needed, on the same reads. Returns how many leases it created.
   */
  async sync(
    listed: Shard[] | undefined,
    scan: readonly Lease[] | undefined,
    clean: boolean,
  ): Promise<number> {
    const known = scan === undefined ? undefined : this.scope.own(scan);
    const { shards, leases, created } = await this.#syncer.sync(listed, known);
    for (const shard of shards) {
      const range = shard.HashKeyRange;
      if (shard.ShardId && range?.StartingHashKey && range.EndingHashKey) {
        this.#hashRanges.set(shard.ShardId, {
          startingHashKey: range.StartingHashKey,
          endingHashKey: range.EndingHashKey,
        });
      }
    }
    if (clean) await this.#cleaner?.clean({ shards, leases });
    return created;
  }

  /** The shard's hash range, from its lease or the last listing. */
  hashRangeOf(lease: Lease, shardId: string): HashKeyRange | undefined {
    return lease.startingHashKey !== undefined && lease.endingHashKey !== undefined
      ? { startingHashKey: lease.startingHashKey, endingHashKey: lease.endingHashKey }
      : this.#hashRanges.get(shardId);
  }

  /** At shard end: a child lease is created once every one of its parents has a lease (KCL rule). */
  async createChildLeases(shardId: string, children: readonly ChildShard[]): Promise<void> {
    for (const child of children) {
      if (!child.ShardId) continue;
      const parents = child.ParentShards ?? [shardId];
      let allParentsLeased = true;
      for (const parent of parents) {
        if (parent !== shardId && !(await this.scope.getLease(parent))) allParentsLeased = false;
      }
      if (!allParentsLeased) continue; // the other parent's worker (or the shard sync) creates it later
      await this.scope.createLeaseIfNotExists({
        leaseKey: child.ShardId,
        checkpoint: 'TRIM_HORIZON',
        parentShardIds: parents,
        ...(child.HashKeyRange?.StartingHashKey
          ? { startingHashKey: child.HashKeyRange.StartingHashKey }
          : {}),
        ...(child.HashKeyRange?.EndingHashKey ? { endingHashKey: child.HashKeyRange.EndingHashKey } : {}),
      });
    }
    const ids = children.map((child) => child.ShardId ?? '').filter((id) => id !== '');
    await this.scope.addChildShardIds(shardId, ids);
  }
}
