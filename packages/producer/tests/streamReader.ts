// Reads a stream back as user records (de-aggregated, filtered per record to the range of the shard it was
// read from, as a range-aware consumer does) for integration assertions.
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { deaggregate, partitionKeyHash } from '@shardline/aggregation';
import { listAllShards, readAllRecords } from '@shardline/testkit';

export interface ReadUserRecord {
  payload: string;
  partitionKey: string;
  hashKey: bigint;
  shardId: string;
  sequenceNumber: string;
  subSequenceNumber: number;
  aggregated: boolean;
}

export async function readUserRecords(client: KinesisClient, streamName: string): Promise<ReadUserRecord[]> {
  const shards = await listAllShards(client, streamName);
  const ranges = new Map(shards.map((shard) => [shard.ShardId ?? '', shard.HashKeyRange]));
  const out: ReadUserRecord[] = [];
  for (const record of await readAllRecords(client, streamName)) {
    const range = ranges.get(record.shardId);
    const users = deaggregate(record, range ? { hashKeyRange: range, outOfRange: 'drop' } : {});
    for (const user of users) {
      out.push({
        payload: Buffer.from(user.data).toString('utf8'),
        partitionKey: user.partitionKey,
        hashKey:
          user.explicitHashKey === undefined
            ? partitionKeyHash(user.partitionKey)
            : BigInt(user.explicitHashKey),
        shardId: record.shardId,
        sequenceNumber: user.sequenceNumber,
        subSequenceNumber: user.subSequenceNumber,
        aggregated: user.aggregated,
      });
    }
  }
  return out;
}

/** Sorts records as a consumer reading each shard in order sees them (per shard: sequence, then sub). */
export function inStreamOrder(records: ReadUserRecord[]): ReadUserRecord[] {
  return [...records].sort((a, b) => {
    const sa = BigInt(a.sequenceNumber);
    const sb = BigInt(b.sequenceNumber);
    if (sa !== sb) return sa < sb ? -1 : 1;
    return a.subSequenceNumber - b.subSequenceNumber;
  });
}
