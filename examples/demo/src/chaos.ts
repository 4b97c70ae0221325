/** The resharding half of the demo's chaos: split one open shard in the middle, merge two adjacent ones. */
import {
  type KinesisClient,
  MergeShardsCommand,
  type Shard,
  SplitShardCommand,
} from '@aws-sdk/client-kinesis';
import { listAllShards, waitForStreamActive } from '@shardline/testkit';

export async function openShards(client: KinesisClient, streamName: string): Promise<Shard[]> {
  const shards = await listAllShards(client, streamName);
  return shards
    .filter((s) => !s.SequenceNumberRange?.EndingSequenceNumber)
    .sort((a, b) =>
      BigInt(a.HashKeyRange?.StartingHashKey ?? 0) < BigInt(b.HashKeyRange?.StartingHashKey ?? 0) ? -1 : 1,
    );
}

/** Splits the open shard with the lowest hash keys at the middle of its range. Returns what happened. */
export async function splitFirstShard(client: KinesisClient, streamName: string): Promise<string> {
  const [shard] = await openShards(client, streamName);
  if (!shard?.ShardId || !shard.HashKeyRange) throw new Error('no open shard to split');
  const start = BigInt(shard.HashKeyRange.StartingHashKey ?? 0);
  const end = BigInt(shard.HashKeyRange.EndingHashKey ?? 0);
  await client.send(
    new SplitShardCommand({
      StreamName: streamName,
      ShardToSplit: shard.ShardId,
      NewStartingHashKey: ((start + end) / 2n + 1n).toString(),
    }),
  );
  await waitForStreamActive(client, streamName, 120_000);
  return `split ${shard.ShardId}`;
}

/** Merges the two adjacent open shards with the highest hash keys. Returns what happened. */
export async function mergeLastTwoShards(client: KinesisClient, streamName: string): Promise<string> {
  const open = await openShards(client, streamName);
  const [left, right] = open.slice(-2);
  if (!left?.ShardId || !right?.ShardId) throw new Error('fewer than two open shards to merge');
  await client.send(
    new MergeShardsCommand({
      StreamName: streamName,
      ShardToMerge: left.ShardId,
      AdjacentShardToMerge: right.ShardId,
    }),
  );
  await waitForStreamActive(client, streamName, 120_000);
  return `merged ${left.ShardId} + ${right.ShardId}`;
}
