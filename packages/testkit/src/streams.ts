import { randomBytes } from 'node:crypto';
import {
  type _Record,
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
  type Shard,
} from '@aws-sdk/client-kinesis';

let counter = 0;

/**
 * A name no other test, file or process in this run uses: `prefix-pid-counter-random`.
 * Valid as a Kinesis stream name and a DynamoDB table name.
 */
export function uniqueName(prefix = 'test'): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}-${randomBytes(3).toString('hex')}`;
}

/** Options for {@link createStream}. */
export interface CreateStreamOptions {
  streamName: string;
  /** @defaultValue `1` */
  shardCount?: number;
  /** @defaultValue `30_000` */
  timeoutMs?: number;
}

/** Creates a stream and waits until it is ACTIVE. Retries while too many streams are CREATING. */
export async function createStream(
  client: KinesisClient,
  { streamName, shardCount = 1, timeoutMs = 30_000 }: CreateStreamOptions,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      await client.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: shardCount }));
      break;
    } catch (error) {
      const name = (error as { name?: string }).name;
      if (name !== 'LimitExceededException' || Date.now() >= deadline) throw error;
      await sleep(Math.min(1_000, 50 * 2 ** attempt));
    }
  }
  await waitForStreamActive(client, streamName, Math.max(0, deadline - Date.now()));
}

/** Polls DescribeStreamSummary until the stream is ACTIVE (for example after a split or merge). */
export async function waitForStreamActive(
  client: KinesisClient,
  streamName: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { StreamDescriptionSummary } = await client.send(
      new DescribeStreamSummaryCommand({ StreamName: streamName }),
    );
    if (StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    if (Date.now() >= deadline) {
      throw new Error(`stream ${streamName} not ACTIVE after ${timeoutMs} ms`);
    }
    await sleep(25);
  }
}

/** Every shard of a stream, open and closed, following ListShards pagination. */
export async function listAllShards(client: KinesisClient, streamName: string): Promise<Shard[]> {
  const shards: Shard[] = [];
  let nextToken: string | undefined;
  for (let page = 0; page < 1_000; page++) {
    const response = await client.send(
      new ListShardsCommand(nextToken ? { NextToken: nextToken } : { StreamName: streamName }),
    );
    shards.push(...(response.Shards ?? []));
    nextToken = response.NextToken;
    if (!nextToken) return shards;
  }
  throw new Error('ListShards paginated more than 1,000 pages');
}

/** A record read back from a stream, with the shard it was read from. */
export interface StreamRecord extends _Record {
  shardId: string;
}

/** Options for {@link readAllRecords}. */
export interface ReadAllOptions {
  /** Stop after this many GetRecords calls per shard. @defaultValue `1_000` */
  maxCallsPerShard?: number;
}

/**
 * Reads every record of every shard (open and closed) from TRIM_HORIZON, for assertions. An open shard is
 * read until a call returns nothing and MillisBehindLatest is 0; a closed one until its iterator ends.
 */
export async function readAllRecords(
  client: KinesisClient,
  streamName: string,
  { maxCallsPerShard = 1_000 }: ReadAllOptions = {},
): Promise<StreamRecord[]> {
  const records: StreamRecord[] = [];
  for (const shard of await listAllShards(client, streamName)) {
    const shardId = shard.ShardId ?? '';
    const { ShardIterator } = await client.send(
      new GetShardIteratorCommand({
        StreamName: streamName,
        ShardId: shardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    let iterator = ShardIterator;
    for (let call = 0; iterator; call++) {
      if (call >= maxCallsPerShard) {
        throw new Error(`shard ${shardId} still had records after ${maxCallsPerShard} calls`);
      }
      const response = await client.send(new GetRecordsCommand({ ShardIterator: iterator }));
      const batch = response.Records ?? [];
      for (const record of batch) records.push({ ...record, shardId });
      iterator = response.NextShardIterator;
      if (batch.length === 0 && (response.MillisBehindLatest ?? 0) === 0) break;
    }
  }
  return records;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
