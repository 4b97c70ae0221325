import {
  type KinesisClient,
  ListShardsCommand,
  type ListShardsCommandOutput,
  type Shard,
} from '@aws-sdk/client-kinesis';
import { StreamError } from '../errors.js';
import type { StreamRef } from '../types.js';
import type { Lease, NewLease } from './Lease.js';
import type { LeaseStore } from './LeaseStore.js';
import { ancestorsOf, parentLinks } from './lineage.js';

/** How the stream is addressed in Kinesis calls: by name or by ARN. */
export type { StreamRef };

/** Options for {@link ShardSyncer}. */
export interface ShardSyncerOptions {
  kinesis: KinesisClient;
  stream: StreamRef;
  store: LeaseStore;
  /** Checkpoint for a shard with no leased ancestor: `TRIM_HORIZON`, `LATEST` or `AT_TIMESTAMP`. */
  initialCheckpoint: 'TRIM_HORIZON' | 'LATEST' | 'AT_TIMESTAMP';
  /** Bounds ListShards pagination. @defaultValue `1_000` */
  maxPages?: number;
  signal?: AbortSignal;
}

/** Result of one sync: the shards seen, the leases read before creating any, and how many this call created. */
export interface SyncResult {
  shards: Shard[];
  leases: readonly Lease[];
  created: number;
}

/**
 * Creates leases for shards that have none, parents before children. A shard whose parent has a lease
 * starts at TRIM_HORIZON (the parent's worker reads up to the split, the child continues from there).
 * With LATEST, closed shards without a leased descendant path get no lease. A shard with a leased
 * descendant gets no lease either: it was read to its end before (its lease since deleted by the lease
 * cleanup) or deliberately started past, and a new lease would read it again. Idempotent and safe to run on
 * every worker at once: creation is PutItem-if-absent and racing creators write identical items.
 */
export class ShardSyncer {
  readonly #options: ShardSyncerOptions;

  constructor(options: ShardSyncerOptions) {
    this.#options = options;
  }

  /**
   * Creates the missing leases. `listed` (from {@link listShards}) saves the listing when the caller has one, and
   * `known` a lease scan: a stale one costs at most a few creations that lose their condition.
   */
  async sync(listed?: Shard[], known?: readonly Lease[]): Promise<SyncResult> {
    const shards = listed ?? (await this.listShards());
    const leases = known ?? (await this.#options.store.listLeases());
    const leased = new Set(leases.map((lease) => lease.leaseKey));
    // Transitively, through the listing and the leases' parents (a listing may lag behind a reshard).
    const aboveLeased = ancestorsOf(leased, parentLinks(shards, leases));
    let created = 0;
    for (const shard of parentsFirst(shards)) {
      const shardId = shard.ShardId;
      if (!shardId || leased.has(shardId) || aboveLeased.has(shardId)) continue;
      const parents = parentIds(shard);
      const closed = shard.SequenceNumberRange?.EndingSequenceNumber !== undefined;
      let checkpoint: string = this.#options.initialCheckpoint;
      if (parents.some((parent) => leased.has(parent))) checkpoint = 'TRIM_HORIZON';
      else if (closed && checkpoint === 'LATEST') continue;
      const lease: NewLease = { leaseKey: shardId, checkpoint, parentShardIds: parents };
      if (shard.HashKeyRange?.StartingHashKey) lease.startingHashKey = shard.HashKeyRange.StartingHashKey;
      if (shard.HashKeyRange?.EndingHashKey) lease.endingHashKey = shard.HashKeyRange.EndingHashKey;
      if (await this.#options.store.createLeaseIfNotExists(lease)) created++;
      leased.add(shardId);
    }
    return { shards, leases, created };
  }

  /** Every shard of the stream, open and closed, following pagination. */
  listShards(): Promise<Shard[]> {
    const { kinesis, stream, maxPages, signal } = this.#options;
    return listShards(kinesis, stream, { maxPages, signal });
  }
}

/**
 * Every shard of the stream, open and closed, following pagination (at most `maxPages` pages, default
 * 1,000). Throws a {@link StreamError} naming the stream.
 */
export async function listShards(
  kinesis: KinesisClient,
  stream: StreamRef,
  options: { maxPages?: number | undefined; signal?: AbortSignal | undefined } = {},
): Promise<Shard[]> {
  const shards: Shard[] = [];
  let nextToken: string | undefined;
  const maxPages = options.maxPages ?? 1_000;
  for (let page = 0; page < maxPages; page++) {
    let response: ListShardsCommandOutput;
    try {
      response = await kinesis.send(
        new ListShardsCommand(nextToken ? { NextToken: nextToken } : { ...stream }),
        {
          abortSignal: options.signal,
        },
      );
    } catch (error) {
      throw new StreamError(`stream ${streamLabel(stream)}: ListShards failed`, error);
    }
    shards.push(...(response.Shards ?? []));
    nextToken = response.NextToken;
    if (!nextToken) return shards;
  }
  throw new StreamError(
    `stream ${streamLabel(stream)}: ListShards paginated more than ${maxPages} pages`,
    undefined,
  );
}

function streamLabel(stream: StreamRef): string {
  return 'StreamName' in stream ? stream.StreamName : stream.StreamARN;
}

export function parentIds(shard: Shard): string[] {
  const ids: string[] = [];
  if (shard.ParentShardId) ids.push(shard.ParentShardId);
  if (shard.AdjacentParentShardId) ids.push(shard.AdjacentParentShardId);
  return ids;
}

/** Orders shards so every parent present in the list comes before its children. */
function parentsFirst(shards: readonly Shard[]): Shard[] {
  const byId = new Map(shards.map((shard) => [shard.ShardId ?? '', shard]));
  const ordered: Shard[] = [];
  const visited = new Set<string>();
  const visit = (shard: Shard): void => {
    const id = shard.ShardId ?? '';
    if (visited.has(id)) return;
    visited.add(id);
    for (const parent of parentIds(shard)) {
      const parentShard = byId.get(parent);
      if (parentShard) visit(parentShard);
    }
    ordered.push(shard);
  };
  for (const shard of shards) visit(shard);
  return ordered;
}
