import {
  type AttributeValue,
  CreateTableCommand,
  DescribeTableCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { createStream, readAllRecords, uniqueName } from '@shardline/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { DynamoDBLeaseStore } from '../src/index.js';
import { localStack, makeConsumer, putKeyed, waitFor } from './helpers.js';

const stack = localStack();
afterAll(() => stack.destroy());

type Item = Record<string, AttributeValue>;

/**
 * The attributes the KCL 3.x `DynamoDBLeaseSerializer.fromDynamoRecord` reads from a lease item, with the
 * DynamoDB type it reads each as (`safeGetString` -> S, `safeGetLong` / `safeGetDouble` -> N, `safeGetSS` ->
 * SS, `safeGetByteArray` -> B), and whether it needs it (a missing `leaseCounter` or `checkpoint` breaks its
 * renewals and its checkpoint parsing).
 */
const KCL3_LEASE_FIELDS: Record<string, { type: 'S' | 'N' | 'SS' | 'B'; required: boolean }> = {
  leaseKey: { type: 'S', required: true },
  leaseOwner: { type: 'S', required: false },
  leaseCounter: { type: 'N', required: true },
  ownerSwitchesSinceCheckpoint: { type: 'N', required: true },
  checkpoint: { type: 'S', required: true },
  checkpointSubSequenceNumber: { type: 'N', required: true },
  parentShardId: { type: 'SS', required: false },
  childShardIds: { type: 'SS', required: false },
  pendingCheckpoint: { type: 'S', required: false },
  pendingCheckpointSubSequenceNumber: { type: 'N', required: false },
  pendingCheckpointState: { type: 'B', required: false },
  startingHashKey: { type: 'S', required: false },
  endingHashKey: { type: 'S', required: false },
  throughputKBps: { type: 'N', required: false },
  checkpointOwner: { type: 'S', required: false },
  entityType: { type: 'S', required: false },
};

/** Fails unless the item is one the KCL 3.x serializer reads as a lease, attribute by attribute. */
function expectKcl3Lease(item: Item): void {
  for (const [name, value] of Object.entries(item)) {
    const field = KCL3_LEASE_FIELDS[name];
    expect(field, `unknown attribute ${name}`).toBeDefined();
    expect(Object.keys(value), `${name} type`).toEqual([field?.type]);
  }
  for (const [name, field] of Object.entries(KCL3_LEASE_FIELDS)) {
    if (field.required) expect(item[name], `${name} present`).toBeDefined();
  }
  if (item.entityType) expect(item.entityType.S).toBe('LEASE');
  for (const name of ['leaseCounter', 'ownerSwitchesSinceCheckpoint', 'checkpointSubSequenceNumber']) {
    expect(Number.isInteger(Number(item[name]?.N)), `${name} is a long`).toBe(true);
  }
  if (item.throughputKBps) expect(Number.isFinite(Number(item.throughputKBps.N))).toBe(true);
  if (item.startingHashKey || item.endingHashKey) {
    expect(BigInt(item.startingHashKey?.S ?? 'x') <= BigInt(item.endingHashKey?.S ?? 'x')).toBe(true);
  }
}

/**
 * A KCL 3.x renewal exactly as `DynamoDBLeaseRefresher.renewLease` sends it (legacy `Expected` conditions:
 * the counter it read, and no handoff in progress), then its take (`leaseCounter` only), on a raw item.
 */
async function kcl3RenewAndTake(tableName: string, item: Item, workerId: string): Promise<void> {
  const counter = Number(item.leaseCounter?.N);
  await stack.dynamoDB.send(
    new UpdateItemCommand({
      TableName: tableName,
      Key: { leaseKey: item.leaseKey as AttributeValue },
      Expected: { leaseCounter: { Value: { N: String(counter) } }, checkpointOwner: { Exists: false } },
      AttributeUpdates: {
        leaseCounter: { Action: 'PUT', Value: { N: String(counter + 1) } },
        throughputKBps: { Action: 'PUT', Value: { N: '1.5' } },
      },
    }),
  );
  await stack.dynamoDB.send(
    new UpdateItemCommand({
      TableName: tableName,
      Key: { leaseKey: item.leaseKey as AttributeValue },
      Expected: { leaseCounter: { Value: { N: String(counter + 1) } } },
      AttributeUpdates: {
        leaseOwner: { Action: 'PUT', Value: { S: workerId } },
        checkpointOwner: { Action: 'DELETE' },
        leaseCounter: { Action: 'PUT', Value: { N: String(counter + 2) } },
      },
    }),
  );
}

async function scan(tableName: string): Promise<Item[]> {
  return (
    (await stack.dynamoDB.send(new ScanCommand({ TableName: tableName, ConsistentRead: true }))).Items ?? []
  );
}

describe('KCL 3.x lease tables, both ways', () => {
  it('resumes a table left by the KCL 3.x (one lease mid-handoff, 3.5 non-lease items) from its checkpoints; items keep the 3.x shape', async () => {
    const streamName = uniqueName('kcl3');
    const applicationName = uniqueName('kcl3app');
    await createStream(stack.kinesis, { streamName, shardCount: 3 });
    await putKeyed(stack.kinesis, streamName, ['a', 'b', 'c', 'd', 'e', 'f'], 0, 8);
    const all = await readAllRecords(stack.kinesis, streamName);
    const of = (shardId: string) => all.filter((record) => record.shardId === shardId);
    const [s0, s1, s2] = ['shardId-000000000000', 'shardId-000000000001', 'shardId-000000000002'];
    const records0 = of(s0);
    const records1 = of(s1);
    expect(records0.length).toBeGreaterThan(4);
    expect(records1.length).toBeGreaterThan(4);
    const ranges = new Map(all.map((record) => [record.shardId, record]));
    expect(ranges.size).toBe(3);

    // As the KCL 3.x creates it: leaseKey hash key, then the owner index (keys only).
    await stack.dynamoDB.send(
      new CreateTableCommand({
        TableName: applicationName,
        AttributeDefinitions: [
          { AttributeName: 'leaseKey', AttributeType: 'S' },
          { AttributeName: 'leaseOwner', AttributeType: 'S' },
        ],
        KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
        GlobalSecondaryIndexes: [
          {
            IndexName: 'LeaseOwnerToLeaseKeyIndex',
            KeySchema: [
              { AttributeName: 'leaseOwner', KeyType: 'HASH' },
              { AttributeName: 'leaseKey', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'KEYS_ONLY' },
          },
        ],
      }),
    );
    await new DynamoDBLeaseStore({ client: stack.dynamoDB, tableName: applicationName }).ensureTable();
    const half = '170141183460469231731687303715884105727';
    const lease = (shardId: string, extra: Item): Item => ({
      leaseKey: { S: shardId },
      leaseCounter: { N: '41' },
      ownerSwitchesSinceCheckpoint: { N: '0' },
      checkpointSubSequenceNumber: { N: '0' },
      entityType: { S: 'LEASE' },
      startingHashKey: { S: '0' },
      endingHashKey: { S: half },
      ...extra,
    });
    // Every attribute with the type `toDynamoRecord` writes. s1 is mid-handoff: the leader moved it from
    // java-a to java-b (checkpointOwner = java-a), java-a checkpointed in shutdownRequested, then both died.
    const cp0 = records0[2]?.SequenceNumber ?? '';
    const cp1 = records1[3]?.SequenceNumber ?? '';
    const items: Item[] = [
      lease(s0, { leaseOwner: { S: 'java-a' }, checkpoint: { S: cp0 }, throughputKBps: { N: '12.345678' } }),
      lease(s1, {
        leaseOwner: { S: 'java-b' },
        checkpointOwner: { S: 'java-a' },
        checkpoint: { S: cp1 },
        throughputKBps: { N: '3.0' },
        ownerSwitchesSinceCheckpoint: { N: '2' },
      }),
      lease(s2, { checkpoint: { S: 'TRIM_HORIZON' }, leaseCounter: { N: '7' } }),
      // KCL 3.5 single-table items beside the leases: never leases, never touched.
      {
        leaseKey: { S: 'java-a' },
        entityType: { S: 'WORKER_METRIC_STATS' },
        lut: { N: '1767225600' },
        opt: { M: {} },
      },
      {
        leaseKey: { S: 'Leader' },
        entityType: { S: 'LEADER' },
        leaseOwner: { S: 'java-a' },
        leaseCounter: { N: '9' },
      },
    ];
    for (const Item of items)
      await stack.dynamoDB.send(new PutItemCommand({ TableName: applicationName, Item }));

    const seen = new Map<string, string[]>();
    const consumer = makeConsumer(stack, {
      streamName,
      applicationName,
      failoverTimeMs: 1_500,
      renewIntervalMs: 300,
      initialPosition: 'LATEST', // ignored: every shard has a lease with a checkpoint
      processor: async (records, { shardId }) => {
        const list = seen.get(shardId) ?? [];
        for (const record of records) list.push(record.sequenceNumber);
        seen.set(shardId, list);
      },
    });
    await consumer.start();
    const expected = new Map([
      [s0, records0.slice(3).map((record) => record.SequenceNumber)],
      [s1, records1.slice(4).map((record) => record.SequenceNumber)],
      [s2, of(s2).map((record) => record.SequenceNumber)],
    ]);
    try {
      await waitFor(
        () => [...expected].every(([shardId, list]) => (seen.get(shardId)?.length ?? 0) >= list.length),
        30_000,
        'every shard processed after its checkpoint',
      );
      // Nothing at or before a checkpoint again, nothing missed after it.
      for (const [shardId, list] of expected) expect(seen.get(shardId)).toEqual(list);
      // Throughput written with renewals (and checkpoints) while it runs.
      await waitFor(
        async () => (await scan(applicationName)).filter((item) => item.throughputKBps).length >= 3,
        30_000, // a lease no one measured before is measured over a whole window (balanceCooldownMs)
        'throughputKBps on every lease',
      );
    } finally {
      await consumer.stop({ timeoutMs: 5_000 });
    }
    const after = await scan(applicationName);
    const leases = after.filter((item) => item.entityType?.S === 'LEASE');
    expect(leases).toHaveLength(3);
    for (const item of leases) {
      expectKcl3Lease(item);
      expect(item.checkpointOwner).toBeUndefined(); // the handoff was ended by the take
      expect(item.throughputKBps?.N).toBeDefined();
    }
    // The 3.5 items are exactly as written.
    expect(after.find((item) => item.leaseKey?.S === 'java-a')).toEqual(items[3]);
    expect(after.find((item) => item.leaseKey?.S === 'Leader')).toEqual(items[4]);
    // And the KCL 3.x could carry on from here: its renewal and take conditions hold on every lease.
    for (const item of leases) await kcl3RenewAndTake(applicationName, item, 'java-c');
  });

  it('a table left by Shardline is one the KCL 3.x resumes: the owner index, the 3.x attributes and types, its conditions', async () => {
    const streamName = uniqueName('kcl3rev');
    const applicationName = uniqueName('kcl3revapp');
    await createStream(stack.kinesis, { streamName, shardCount: 2 });
    const seen: string[] = [];
    const consumer = makeConsumer(stack, {
      streamName,
      applicationName,
      initialPosition: 'TRIM_HORIZON',
      processor: async (records) => {
        for (const record of records) seen.push(record.sequenceNumber);
      },
    });
    await consumer.start();
    try {
      const written = await putKeyed(stack.kinesis, streamName, ['p', 'q', 'r', 's'], 0, 10);
      await waitFor(() => seen.length >= written, 20_000, 'records processed');
      await waitFor(
        async () => (await scan(applicationName)).filter((item) => item.throughputKBps).length === 2,
        30_000, // a lease no one measured before is measured over a whole window (balanceCooldownMs)
        'throughputKBps written',
      );
      // While it runs, the owner index lists this worker's leases (what KCL 3.x workers query).
      await waitFor(
        async () => {
          const response = await stack.dynamoDB.send(
            new QueryCommand({
              TableName: applicationName,
              IndexName: 'LeaseOwnerToLeaseKeyIndex',
              KeyConditionExpression: 'leaseOwner = :owner',
              ExpressionAttributeValues: { ':owner': { S: consumer.workerId } },
            }),
          );
          return (response.Items ?? []).length === 2;
        },
        10_000,
        'owner index lists both leases',
      );
    } finally {
      await consumer.stop({ timeoutMs: 5_000 });
    }
    const table = (await stack.dynamoDB.send(new DescribeTableCommand({ TableName: applicationName }))).Table;
    expect(table?.KeySchema).toEqual([{ AttributeName: 'leaseKey', KeyType: 'HASH' }]);
    const index = table?.GlobalSecondaryIndexes?.find((gsi) => gsi.IndexName === 'LeaseOwnerToLeaseKeyIndex');
    expect(index?.KeySchema).toEqual([
      { AttributeName: 'leaseOwner', KeyType: 'HASH' },
      { AttributeName: 'leaseKey', KeyType: 'RANGE' },
    ]);
    expect(index?.Projection?.ProjectionType).toBe('KEYS_ONLY');
    const items = await scan(applicationName);
    expect(items).toHaveLength(2);
    for (const item of items) {
      expectKcl3Lease(item);
      expect(item.entityType?.S).toBe('LEASE');
      expect(Number(item.throughputKBps?.N)).toBeGreaterThanOrEqual(0);
      expect(item.leaseOwner).toBeUndefined(); // released at stop: the KCL 3.x leader assigns it at once
      expect(item.checkpoint?.S).toMatch(/^\d+$/);
    }
    for (const item of items) await kcl3RenewAndTake(applicationName, item, 'java-a');
  });
});
