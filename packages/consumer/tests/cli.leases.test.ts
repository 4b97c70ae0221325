import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { connectLocalStack, createStream, listAllShards, uniqueName } from '@shardline/testkit';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { lagFailure } from '../src/cli/lag.js';
import { DynamoDBLeaseStore } from '../src/leases/DynamoDBLeaseStore.js';
import { runCli, startCli } from './cliRun.js';
import { waitFor } from './helpers.js';

const endpoints = inject('localStack');
const stack = connectLocalStack(endpoints);
afterAll(() => stack.destroy());

async function putLease(table: string, item: Record<string, string | undefined>): Promise<void> {
  await stack.dynamoDB.send(
    new PutItemCommand({
      TableName: table,
      Item: {
        leaseKey: { S: item.leaseKey ?? '' },
        ...(item.leaseOwner ? { leaseOwner: { S: item.leaseOwner } } : {}),
        ...(item.checkpointOwner ? { checkpointOwner: { S: item.checkpointOwner } } : {}),
        leaseCounter: { N: '3' },
        checkpoint: { S: item.checkpoint ?? 'TRIM_HORIZON' },
        checkpointSubSequenceNumber: { N: '0' },
        ownerSwitchesSinceCheckpoint: { N: '0' },
      },
    }),
  );
}

describe('shardline leases --watch, --lag reasons', () => {
  it('prints successive snapshots with a handoff in progress, and says why a lag is missing', async () => {
    const table = uniqueName('cli-watch');
    const streamName = uniqueName('cli-watch-stream');
    await createStream(stack.kinesis, { streamName, shardCount: 2 });
    const [first, second] = (await listAllShards(stack.kinesis, streamName)).map((s) => s.ShardId ?? '');
    await new DynamoDBLeaseStore({ client: stack.dynamoDB, tableName: table }).ensureTable();
    await putLease(table, { leaseKey: first, leaseOwner: 'w-new', checkpointOwner: 'w-old' });
    await putLease(table, { leaseKey: second, leaseOwner: 'w-new', checkpoint: 'SHARD_END' });

    const watching = startCli(endpoints, [
      'leases',
      '--table',
      table,
      '--endpoint',
      endpoints.dynamoDBEndpoint,
      '--lag',
      '--stream',
      streamName,
      '--kinesis-endpoint',
      endpoints.kinesisEndpoint,
      '--watch',
      '--interval',
      '0.5',
    ]);
    const snapshots = (): string[] => watching.stdout().split(/\n\n(?=\d{4}-\d{2}-\d{2}T)/);
    try {
      await waitFor(() => snapshots().length >= 3, 30_000, 'two complete snapshots');
    } finally {
      watching.child.kill('SIGINT');
    }
    expect(await watching.exited).toBe(130);
    expect(watching.stderr()).toBe('');
    expect(watching.stdout()).not.toContain('\x1b['); // not a terminal: no redraw codes
    for (const snapshot of snapshots().slice(0, 2)) {
      expect(snapshot).toMatch(/^\d{4}-\d{2}-\d{2}T\S+Z\nshard\s+owner/);
      expect(snapshot).toMatch(
        new RegExp(`${first}\\s+w-old -> w-new\\s+3\\s+TRIM_HORIZON\\s+-\\s+-\\s+\\d+ ms`),
      );
      expect(snapshot).toMatch(new RegExp(`${second}\\s+w-new\\s+3\\s+SHARD_END\\s+-\\s+-\\s+finished`));
      expect(snapshot).toContain(`handoffs in progress:\n  ${first}: w-old -> w-new`);
    }

    const json = startCli(endpoints, [
      'leases',
      '--table',
      table,
      '--endpoint',
      endpoints.dynamoDBEndpoint,
      '--json',
      '--watch',
      '--interval',
      '0.2',
    ]);
    try {
      await waitFor(
        () => json.lines().filter((l) => l.startsWith('[')).length >= 2,
        30_000,
        'two JSON lines',
      );
    } finally {
      json.child.kill('SIGINT');
    }
    await json.exited;
    const parsed = JSON.parse(json.lines()[0] ?? '') as Array<{ checkpointOwner?: string }>;
    expect(parsed.map((l) => l.checkpointOwner).filter(Boolean)).toEqual(['w-old']);

    expect(runCli(endpoints, ['leases', '--table', table, '--watch', '--interval', 'x']).status).toBe(2);
  });

  it('names why a lag could not be read', () => {
    const aws = (name: string, message = ''): Error =>
      Object.assign(new Error(message), { name, $metadata: {}, $fault: 'client' });
    expect(lagFailure(aws('ProvisionedThroughputExceededException'))).toBe('throttled');
    expect(lagFailure(aws('ResourceNotFoundException', 'Shard shardId-1 does not exist'))).toBe('trimmed');
    expect(lagFailure(aws('AccessDeniedException'))).toBe('AccessDeniedException');
    expect(lagFailure(new Error('boom'))).toBe('error');
  });
});
