import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type GetShardIteratorCommandInput,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { awsErrorName } from '../errors.js';
import type { Lease } from '../leases/Lease.js';
import type { LagByShard } from './leaseReport.js';

/**
 * How far each lease's checkpoint is behind the tip of its shard: one GetShardIterator and one GetRecords
 * (Limit 1) per unfinished lease, reading `MillisBehindLatest`. Those calls count against the shard's read
 * limits (5 GetRecords/s), so the CLI only does this when asked (`--lag`). A shard whose lag cannot be
 * measured gets the reason instead: `finished`, `throttled`, `trimmed`, `expired`, or the AWS error's name.
 */
export async function measureLag(
  client: KinesisClient,
  streamName: string,
  leases: readonly Lease[],
): Promise<LagByShard> {
  const lag = new Map<string, number | string>();
  for (const lease of leases) {
    if (lease.checkpoint === 'SHARD_END') {
      lag.set(lease.leaseKey, 'finished');
      continue;
    }
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
      if (!ShardIterator) {
        lag.set(lease.leaseKey, 'no iterator');
        continue;
      }
      const response = await client.send(new GetRecordsCommand({ ShardIterator, Limit: 1 }));
      lag.set(lease.leaseKey, response.MillisBehindLatest ?? 'not reported');
    } catch (error) {
      lag.set(lease.leaseKey, lagFailure(error));
    }
  }
  return lag;
}

/** Why a lag could not be read, in a word or the AWS error's name. */
export function lagFailure(error: unknown): string {
  const name = awsErrorName(error);
  const message = error instanceof Error ? error.message : '';
  if (name === 'ProvisionedThroughputExceededException' || name === 'LimitExceededException')
    return 'throttled';
  if (name === 'ExpiredIteratorException') return 'expired';
  // A shard past the retention period is gone; a checkpoint older than it cannot be read from either.
  if (name === 'ResourceNotFoundException' && /shard/i.test(message)) return 'trimmed';
  if (name === 'InvalidArgumentException' && /trim|retention|older/i.test(message)) return 'trimmed';
  return name ?? 'error';
}
