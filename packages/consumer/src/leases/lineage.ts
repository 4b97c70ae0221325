import type { Shard } from '@aws-sdk/client-kinesis';
import type { Lease } from './Lease.js';

/**
 * Shard lineage as the worker knows it: child -> parents, from the ListShards listing and from the leases'
 * `parentShardId`. Leases count too because a listing can lag behind a reshard (a child lease is created from
 * GetRecords' ChildShards, and a lagging listing may even show its parent as still open).
 */
export function parentLinks(shards: readonly Shard[], leases: readonly Lease[]): Map<string, string[]> {
  const links = new Map<string, string[]>();
  const add = (child: string, parent: string | undefined): void => {
    if (!parent) return;
    const parents = links.get(child);
    if (!parents) links.set(child, [parent]);
    else if (!parents.includes(parent)) parents.push(parent);
  };
  for (const shard of shards) {
    if (!shard.ShardId) continue;
    add(shard.ShardId, shard.ParentShardId);
    add(shard.ShardId, shard.AdjacentParentShardId);
  }
  for (const lease of leases) for (const parent of lease.parentShardIds) add(lease.leaseKey, parent);
  return links;
}

/** Every ancestor (parents, their parents, ...) of the given shards, the shards themselves excluded. */
export function ancestorsOf(
  shardIds: Iterable<string>,
  links: ReadonlyMap<string, readonly string[]>,
): Set<string> {
  const ancestors = new Set<string>();
  const pending = [...shardIds];
  for (let id = pending.pop(); id !== undefined; id = pending.pop()) {
    for (const parent of links.get(id) ?? []) {
      if (ancestors.has(parent)) continue;
      ancestors.add(parent);
      pending.push(parent);
    }
  }
  return ancestors;
}
