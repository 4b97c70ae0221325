import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import {
  CreateTableCommand,
  GetItemCommand,
  PutItemCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { describe, expect, inject, it } from 'vitest';
import {
  connectLocalStack,
  createStream,
  isProcessAlive as isAlive,
  type LocalStack,
  type LocalStackClients,
  listAllShards,
  readAllRecords,
  startLocalStack,
  uniqueName,
} from '../src/index.js';

/** TCP ports in LISTEN state, with their local addresses, owned by anyone (from /proc/net/tcp{,6}). */
function listeningAddresses(port: number): string[] {
  const found: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const [local, , state] = [cols[1], cols[2], cols[3]];
      if (!local || state !== '0A') continue; // 0A = LISTEN
      const [hexAddr, hexPort] = local.split(':');
      if (!hexAddr || !hexPort || Number.parseInt(hexPort, 16) !== port) continue;
      found.push(hexAddr);
    }
  }
  return found;
}

const LOOPBACK_V4 = '0100007F'; // 127.0.0.1, little-endian hex as /proc shows it

async function roundTrip(clients: LocalStackClients): Promise<void> {
  const streamName = uniqueName('roundtrip');
  await createStream(clients.kinesis, { streamName, shardCount: 2 });
  const shards = await listAllShards(clients.kinesis, streamName);
  expect(shards).toHaveLength(2);
  const put = await clients.kinesis.send(
    new PutRecordsCommand({
      StreamName: streamName,
      Records: [
        { PartitionKey: 'a', Data: Buffer.from('one') },
        { PartitionKey: 'b', Data: Buffer.from('two') },
        { PartitionKey: 'c', Data: Buffer.from('three') },
      ],
    }),
  );
  expect(put.FailedRecordCount).toBe(0);
  const records = await readAllRecords(clients.kinesis, streamName);
  expect(records.map((r) => Buffer.from(r.Data ?? []).toString()).sort()).toEqual(['one', 'three', 'two']);
  // Each record is read from the shard the put said it went to.
  for (const record of records) {
    const index = put.Records?.findIndex((entry) => entry.SequenceNumber === record.SequenceNumber) ?? -1;
    expect(put.Records?.[index]?.ShardId).toBe(record.shardId);
  }

  const tableName = uniqueName('table');
  await clients.dynamoDB.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  // dynalite answers CreateTable while the table is CREATING (as AWS does); a write before it is ACTIVE can
  // get ResourceNotFoundException, which a loaded machine makes likely enough to fail a run.
  await waitUntilTableExists(
    { client: clients.dynamoDB, maxWaitTime: 10, minDelay: 1, maxDelay: 1 },
    { TableName: tableName },
  );
  await clients.dynamoDB.send(
    new PutItemCommand({
      TableName: tableName,
      Item: { leaseKey: { S: 'shardId-0' }, leaseCounter: { N: '1' } },
    }),
  );
  const { Item } = await clients.dynamoDB.send(
    new GetItemCommand({ TableName: tableName, Key: { leaseKey: { S: 'shardId-0' } } }),
  );
  expect(Item?.leaseCounter?.N).toBe('1');
}

describe('the shared local stack (globalSetup)', () => {
  it('round-trips through the real SDK v3 clients on both emulators', async () => {
    const clients = connectLocalStack(inject('localStack'));
    try {
      await roundTrip(clients);
    } finally {
      clients.destroy();
    }
  });
});

describe('startLocalStack', () => {
  it('runs two stacks side by side, listening on 127.0.0.1 only, and leaves no process behind', async () => {
    const stacks: LocalStack[] = [];
    try {
      stacks.push(await startLocalStack(), await startLocalStack());
      const [first, second] = stacks as [LocalStack, LocalStack];
      expect(first.endpoints.kinesisEndpoint).not.toBe(second.endpoints.kinesisEndpoint);
      expect(first.kinesisPid).not.toBe(second.kinesisPid);

      for (const stack of stacks) {
        expect(isAlive(stack.kinesisPid)).toBe(true);
        for (const endpoint of [stack.endpoints.kinesisEndpoint, stack.endpoints.dynamoDBEndpoint]) {
          const url = new URL(endpoint);
          expect(url.hostname).toBe('127.0.0.1');
          const addresses = listeningAddresses(Number(url.port));
          expect(addresses.length).toBeGreaterThan(0);
          expect(addresses.every((address) => address === LOOPBACK_V4)).toBe(true);
        }
      }
      // kinesis-local also opens a TLS port; no socket of its process may listen on a wildcard address.
      for (const stack of stacks) {
        const sockets = execFileSync('ls', ['-l', `/proc/${stack.kinesisPid}/fd`], { encoding: 'utf8' })
          .split('\n')
          .map((line) => /socket:\[(\d+)\]/.exec(line)?.[1])
          .filter((inode): inode is string => inode !== undefined);
        const listening = listenersByInode(new Set(sockets));
        expect(listening.length).toBeGreaterThanOrEqual(2);
        expect(listening.every((address) => address === LOOPBACK_V4)).toBe(true);
      }

      await Promise.all(stacks.map((stack) => roundTrip(stack)));
    } finally {
      await Promise.all(stacks.map((stack) => stack.stop()));
    }
    for (const stack of stacks) expect(isAlive(stack.kinesisPid)).toBe(false);
    // stop() is safe to call twice.
    await stacks[0]?.stop();
  });
});

function listenersByInode(inodes: Set<string>): string[] {
  const found: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const lines = readFileSync(file, 'utf8').split('\n').slice(1);
    for (const line of lines) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      if (cols[3] !== '0A' || !local || !inodes.has(cols[9] ?? '')) continue;
      found.push(local.split(':')[0] ?? '');
    }
  }
  return found;
}
