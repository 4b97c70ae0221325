import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { uniqueName } from '@shardline/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDBLeaseStore } from '../src/index.js';
import { localStack } from './helpers.js';

const stack = localStack();
afterAll(() => stack.destroy());

describe('DynamoDBLeaseStore', () => {
  let store: DynamoDBLeaseStore;
  beforeAll(async () => {
    store = new DynamoDBLeaseStore({ client: stack.dynamoDB, tableName: uniqueName('leases') });
    await store.ensureTable();
    await store.ensureTable(); // idempotent
  });

  it('creates a lease once, in the KCL 2.x item shape', async () => {
    const created = await store.createLeaseIfNotExists({
      leaseKey: 'shardId-000000000001',
      checkpoint: 'TRIM_HORIZON',
      parentShardIds: ['shardId-000000000000'],
      startingHashKey: '0',
      endingHashKey: '100',
    });
    expect(created).toBe(true);
    expect(
      await store.createLeaseIfNotExists({ leaseKey: 'shardId-000000000001', checkpoint: 'LATEST' }),
    ).toBe(false);
    const lease = await store.getLease('shardId-000000000001');
    expect(lease).toEqual({
      leaseKey: 'shardId-000000000001',
      leaseOwner: undefined,
      leaseCounter: 0,
      checkpoint: 'TRIM_HORIZON',
      checkpointSubSequenceNumber: 0,
      ownerSwitchesSinceCheckpoint: 0,
      parentShardIds: ['shardId-000000000000'],
      childShardIds: [],
      startingHashKey: '0',
      endingHashKey: '100',
    });
  });

  it('takes, renews, checkpoints and evicts with counter conditions', async () => {
    await store.createLeaseIfNotExists({ leaseKey: 'shard-a', checkpoint: 'TRIM_HORIZON' });
    const initial = await store.getLease('shard-a');
    if (!initial) throw new Error('missing lease');
    const taken = await store.takeLease(initial, 'w1');
    expect(taken).toMatchObject({ leaseOwner: 'w1', leaseCounter: 1, ownerSwitchesSinceCheckpoint: 1 });
    if (!taken) throw new Error('not taken');
    // A wrong counter loses: a lost race is a return value, not an exception.
    expect(await store.renewLease({ ...taken, leaseCounter: 7 }, 'w1')).toBeUndefined();
    // The counter our own earlier write produced (an earlier call whose response was lost) is recognised as
    // landed, and confirmed by one more renewal sent during this call, since the caller dates the lease
    // from this call: the table moves on to 2, not just 1.
    const confirmed = await store.renewLease(initial, 'w1');
    expect(confirmed).toMatchObject({ leaseCounter: 2, leaseOwner: 'w1' });
    expect((await store.getLease('shard-a'))?.leaseCounter).toBe(2);
    if (!confirmed) throw new Error('not confirmed');
    const renewed = await store.renewLease(confirmed, 'w1');
    expect(renewed?.leaseCounter).toBe(3);
    if (!renewed) throw new Error('not renewed');
    const checkpointed = await store.checkpoint(renewed, 'w1', '12345', 3);
    expect(checkpointed).toMatchObject({
      leaseCounter: 4,
      checkpoint: '12345',
      checkpointSubSequenceNumber: 3,
    });
    // Another worker cannot checkpoint, even with the right counter.
    if (!checkpointed) throw new Error('not checkpointed');
    expect(await store.checkpoint(checkpointed, 'w2', '99999', 0)).toBeUndefined();
    expect(await store.evictLease(checkpointed, 'w2')).toBe(false);
    expect(await store.evictLease(checkpointed, 'w1')).toBe(true);
    const after = await store.getLease('shard-a');
    expect(after).toMatchObject({
      leaseOwner: undefined,
      leaseCounter: 5,
      checkpoint: '12345',
      ownerSwitchesSinceCheckpoint: 0,
    });
  });

  it('two stores racing to take the same lease: exactly one wins, repeatedly', async () => {
    const other = new DynamoDBLeaseStore({
      client: stack.createDynamoDBClient(),
      tableName: store.tableName,
    });
    await store.createLeaseIfNotExists({ leaseKey: 'contested', checkpoint: 'LATEST' });
    for (let round = 0; round < 10; round++) {
      const lease = await store.getLease('contested');
      if (!lease) throw new Error('missing lease');
      const [a, b] = await Promise.all([store.takeLease(lease, 'wa'), other.takeLease(lease, 'wb')]);
      expect([a, b].filter((x) => x !== undefined)).toHaveLength(1);
      const winner = a ?? b;
      const stored = await store.getLease('contested');
      expect(stored?.leaseOwner).toBe(winner?.leaseOwner);
      expect(stored?.leaseCounter).toBe(lease.leaseCounter + 1);
    }
  });

  it('reads a lease written by the Java KCL and keeps its unknown attributes', async () => {
    await stack.dynamoDB.send(
      new PutItemCommand({
        TableName: store.tableName,
        Item: {
          leaseKey: { S: 'shardId-000000000007' },
          leaseOwner: { S: 'java-worker' },
          leaseCounter: { N: '41' },
          checkpoint: { S: '49590338271490256608559692538361571095921575989136588898' },
          checkpointSubSequenceNumber: { N: '2' },
          ownerSwitchesSinceCheckpoint: { N: '1' },
          parentShardId: { SS: ['shardId-000000000003'] },
          childShardIds: { SS: ['shardId-000000000009', 'shardId-000000000010'] },
          startingHashKey: { S: '0' },
          endingHashKey: { S: '340282366920938463463374607431768211455' },
          throughputKBps: { N: '12.5' },
        },
      }),
    );
    const lease = await store.getLease('shardId-000000000007');
    expect(lease).toMatchObject({
      leaseOwner: 'java-worker',
      leaseCounter: 41,
      checkpointSubSequenceNumber: 2,
      parentShardIds: ['shardId-000000000003'],
    });
    expect([...(lease?.childShardIds ?? [])].sort()).toEqual([
      'shardId-000000000009',
      'shardId-000000000010',
    ]);
    if (!lease) throw new Error('missing');
    const taken = await store.takeLease(lease, 'node-worker');
    expect(taken?.ownerSwitchesSinceCheckpoint).toBe(2);
    const { Item } = await stack.dynamoDB.send(
      new (await import('@aws-sdk/client-dynamodb')).GetItemCommand({
        TableName: store.tableName,
        Key: { leaseKey: { S: 'shardId-000000000007' } },
      }),
    );
    expect(Item?.throughputKBps).toEqual({ N: '12.5' });
    expect(Item?.leaseCounter).toEqual({ N: '42' });
    expect(Item?.leaseOwner).toEqual({ S: 'node-worker' });
  });

  it('addChildShardIds is idempotent', async () => {
    await store.createLeaseIfNotExists({ leaseKey: 'parent', checkpoint: 'TRIM_HORIZON' });
    await store.addChildShardIds('parent', ['c1', 'c2']);
    await store.addChildShardIds('parent', ['c2']);
    expect([...((await store.getLease('parent'))?.childShardIds ?? [])].sort()).toEqual(['c1', 'c2']);
  });

  it('deleteLease deletes only the lease as read (counter, checkpoint, owner); a lost race is false', async () => {
    await store.createLeaseIfNotExists({ leaseKey: 'done', checkpoint: 'TRIM_HORIZON' });
    const created = await store.getLease('done');
    if (!created) throw new Error('missing lease');
    const taken = await store.takeLease(created, 'w1');
    if (!taken) throw new Error('not taken');
    const finished = await store.checkpoint(taken, 'w1', 'SHARD_END', 0);
    if (!finished) throw new Error('not checkpointed');
    // Stale views: an older counter, another checkpoint, no owner, another owner.
    expect(await store.deleteLease(taken)).toBe(false);
    expect(await store.deleteLease({ ...finished, checkpoint: '123' })).toBe(false);
    expect(await store.deleteLease({ ...finished, leaseOwner: undefined })).toBe(false);
    expect(await store.deleteLease({ ...finished, leaseOwner: 'w2' })).toBe(false);
    expect(await store.getLease('done')).toBeDefined();
    expect(await store.evictLease(finished, 'w1')).toBe(true);
    // Still owned in this view, but released in the table: not as read.
    expect(await store.deleteLease({ ...finished, leaseCounter: finished.leaseCounter + 1 })).toBe(false);
    const released = await store.getLease('done');
    if (!released) throw new Error('missing lease');
    expect(await store.deleteLease(released)).toBe(true);
    expect(await store.getLease('done')).toBeUndefined();
    // Gone: a second delete (another worker, or a retry) is a lost race, not an error, and creates nothing.
    expect(await store.deleteLease(released)).toBe(false);
    expect(await store.getLease('done')).toBeUndefined();
  });
});
