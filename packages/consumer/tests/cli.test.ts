import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import {
  connectLocalStack,
  createStream,
  listAllShards,
  localStackProcessEnv,
  uniqueName,
} from '@shardline/testkit';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { formatLeaseReport } from '../src/cli/leaseReport.js';
import { DynamoDBLeaseStore } from '../src/leases/DynamoDBLeaseStore.js';
import type { Lease } from '../src/leases/Lease.js';

const endpoints = inject('localStack');
const stack = connectLocalStack(endpoints);
afterAll(() => stack.destroy());

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const entry = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
  const result = spawnSync(
    process.execPath,
    ['--conditions=@shardline/source', '--import', 'tsx', entry, ...args],
    {
      encoding: 'utf8',
      timeout: 60_000,
      env: localStackProcessEnv(endpoints),
    },
  );
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const lease = (over: Partial<Lease>): Lease => ({
  leaseKey: 'shardId-000000000000',
  leaseOwner: undefined,
  checkpointOwner: undefined,
  leaseCounter: 1,
  checkpoint: 'TRIM_HORIZON',
  checkpointSubSequenceNumber: 0,
  ownerSwitchesSinceCheckpoint: 0,
  parentShardIds: [],
  childShardIds: [],
  startingHashKey: undefined,
  endingHashKey: undefined,
  ...over,
});

describe('shardline leases', () => {
  it('formats owners, sub-sequence checkpoints, lineage and lag', () => {
    const text = formatLeaseReport(
      [
        lease({
          leaseKey: 'shardId-000000000002',
          parentShardIds: ['shardId-000000000000'],
          leaseOwner: 'w2',
        }),
        lease({ checkpoint: 'SHARD_END', childShardIds: ['shardId-000000000002'] }),
        lease({
          leaseKey: 'shardId-000000000001',
          leaseOwner: 'w1',
          checkpoint: '4960',
          checkpointSubSequenceNumber: 3,
        }),
      ],
      new Map([['shardId-000000000001', 1500]]),
    );
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^shard\s+owner\s+counter\s+checkpoint\s+parents\s+children\s+lag$/);
    expect(lines[1]).toMatch(
      /^shardId-000000000000\s+\(none\)\s+1\s+SHARD_END\s+-\s+shardId-000000000002\s+-$/,
    );
    expect(lines[2]).toMatch(/^shardId-000000000001\s+w1\s+1\s+4960\/3\s+-\s+-\s+1500 ms$/);
    expect(lines[3]).toMatch(/^shardId-000000000002\s+w2\s+1\s+TRIM_HORIZON\s+shardId-000000000000\s+-\s+-$/);
    expect(text).toContain('3 leases, 1 finished (SHARD_END), 1 unowned; workers: w1 1, w2 1');
  });

  it('prints a table written in the Java KCL 2.x shape, with lag from the stream', async () => {
    const table = uniqueName('cli-table');
    const streamName = uniqueName('cli-stream');
    await createStream(stack.kinesis, { streamName, shardCount: 2 });
    const shardIds = (await listAllShards(stack.kinesis, streamName)).map((s) => s.ShardId ?? '');
    const first = shardIds[0] ?? '';
    const second = shardIds[1] ?? '';
    await stack.kinesis.send(
      new PutRecordsCommand({
        StreamName: streamName,
        Records: Array.from({ length: 10 }, (_, i) => ({ PartitionKey: `k${i}`, Data: Buffer.from('x') })),
      }),
    );
    await new DynamoDBLeaseStore({ client: stack.dynamoDB, tableName: table }).ensureTable();
    for (const [shard, owner, checkpoint] of [
      [first, 'java-worker-1', 'TRIM_HORIZON'],
      [second, undefined, 'LATEST'],
    ] as const) {
      await stack.dynamoDB.send(
        new PutItemCommand({
          TableName: table,
          Item: {
            leaseKey: { S: shard },
            ...(owner ? { leaseOwner: { S: owner } } : {}),
            leaseCounter: { N: '7' },
            checkpoint: { S: checkpoint },
            checkpointSubSequenceNumber: { N: '0' },
            ownerSwitchesSinceCheckpoint: { N: '0' },
          },
        }),
      );
    }
    const plain = cli(['leases', '--table', table, '--endpoint', endpoints.dynamoDBEndpoint]);
    expect(plain.stderr).toBe('');
    expect(plain.status).toBe(0);
    expect(plain.stdout).toMatch(new RegExp(`${first}\\s+java-worker-1\\s+7\\s+TRIM_HORIZON`));
    expect(plain.stdout).toMatch(new RegExp(`${second}\\s+\\(none\\)\\s+7\\s+LATEST`));

    const withLag = cli([
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
    ]);
    expect(withLag.status).toBe(0);
    expect(withLag.stdout, withLag.stderr).toMatch(
      new RegExp(`${first}\\s+java-worker-1\\s+7\\s+TRIM_HORIZON\\s+-\\s+-\\s+\\d+ ms`),
    );

    const json = cli(['leases', '--table', table, '--endpoint', endpoints.dynamoDBEndpoint, '--json']);
    expect(JSON.parse(json.stdout)).toHaveLength(2);
  });

  it('explains its usage and fails cleanly on a missing table', () => {
    expect(cli(['leases']).status).toBe(2);
    const missing = cli([
      'leases',
      '--table',
      uniqueName('absent'),
      '--endpoint',
      endpoints.dynamoDBEndpoint,
    ]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^shardline: lease table \S+: Scan failed: ResourceNotFoundException/);
  });
});
