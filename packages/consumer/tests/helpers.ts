import { type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { connectLocalStack, type LocalStackClients } from '@shardline/testkit';
import { inject } from 'vitest';
import { KinesisConsumer, type KinesisConsumerOptions } from '../src/index.js';

export function localStack(): LocalStackClients {
  return connectLocalStack(inject('localStack'));
}

/** Small timings so failover, taking and shard sync happen within a couple of seconds. */
export const FAST = {
  failoverTimeMs: 2_000,
  renewIntervalMs: 400,
  takerIntervalMs: 300,
  leaseScanIntervalMs: 1_000,
  shardSyncIntervalMs: 1_000,
  parentPollIntervalMs: 100,
  idleTimeBetweenReadsMs: 100,
  processingRetry: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 50 },
} as const satisfies Partial<KinesisConsumerOptions>;

export function makeConsumer(
  stack: LocalStackClients,
  options: Omit<KinesisConsumerOptions, 'kinesisClient' | 'dynamoDBClient'>,
): KinesisConsumer {
  return new KinesisConsumer({
    kinesisClient: stack.kinesis,
    dynamoDBClient: stack.dynamoDB,
    ...FAST,
    ...options,
  });
}

/** Polls `condition` every 50 ms until it holds; fails with `message` after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  message: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${message}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Puts records `key:index` for each key, in order per key; returns how many were written. */
export async function putKeyed(
  kinesis: KinesisClient,
  streamName: string,
  keys: readonly string[],
  from: number,
  count: number,
): Promise<number> {
  const entries = [];
  for (let i = from; i < from + count; i++) {
    for (const key of keys)
      entries.push({ PartitionKey: key, Data: new TextEncoder().encode(`${key}:${i}`) });
  }
  for (let start = 0; start < entries.length; start += 500) {
    const chunk = entries.slice(start, start + 500);
    const response = await kinesis.send(new PutRecordsCommand({ StreamName: streamName, Records: chunk }));
    if ((response.FailedRecordCount ?? 0) > 0) throw new Error('PutRecords had failures');
  }
  return entries.length;
}
