import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type GetShardIteratorCommandInput,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import type { Lease } from '../leases/Lease.js';
import type { LagByShard } from './leaseReport.js';

/**
 * How far each lease's checkpoint is behind the tip of its shard: one GetShardIterator and one GetRecords
 * (Limit 1) per unfinished lease, reading `MillisBehindLatest`. Those calls count against the shard's read
 * limits (5 GetRecords/s), so the CLI only does this when asked (`--lag`). A shard whose lag cannot be
 * measured (finished, trimmed, throttled) shows none.
 */
export async function measureLag(
  client: KinesisClient,
  streamName: string,
  leases: readonly Lease[],
): Promise<LagByShard> {
  const lag = new Map<string, number | undefined>();
  for (const lease of leases) {
    if (lease.checkpoint === 'SHARD_END') continue;
    const input: GetShardIteratorCommandInput = {
      StreamName: streamName,
      ShardId: lease.leaseKey,
      ShardIteratorType: 'TRIM_HORIZON',
    };
    if (/^\d+$/.test(lease.checkpoint)) {
      input.ShardIteratorType = 'AFTER_SEQUENCE_NUMBER';
      input.StartingSequenceNumber = lease.checkpoint;
    } else if (lease.checkpoint === 'LATEST') {
      input.ShardIteratorType = 'LATEST';
    }
    try {
      const { ShardIterator } = await client.send(new GetShardIteratorCommand(input));
      if (!ShardIterator) continue;
      const response = await client.send(new GetRecordsCommand({ ShardIterator, Limit: 1 }));
      lag.set(lease.leaseKey, response.MillisBehindLatest);
    } catch {
      lag.set(lease.leaseKey, undefined);
    }
  }
  return lag;
}
