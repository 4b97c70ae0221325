import {
  type AttributeValue,
  ConditionalCheckFailedException,
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { sleep } from '../backoff.js';
import { LeaseTableError } from '../errors.js';
import type { Lease, NewLease } from './Lease.js';
import type { LeaseStore } from './LeaseStore.js';

type Item = Record<string, AttributeValue>;

/** Options for {@link DynamoDBLeaseStore}. */
export interface DynamoDBLeaseStoreOptions {
  client: DynamoDBClient;
  tableName: string;
  /** How long `ensureTable` waits for a new table to become ACTIVE. @defaultValue `60_000` */
  tableActiveTimeoutMs?: number;
  /** At most this many Scan pages per `listLeases` (bounds a runaway table). @defaultValue `1_000` */
  maxScanPages?: number;
}

/**
 * The lease table in the KCL 2.x item shape (see the README). Unknown attributes written by other tools are
 * left alone: every change is an UpdateItem that names only the attributes it changes.
 */
export class DynamoDBLeaseStore implements LeaseStore {
  readonly tableName: string;
  /** Write and read request counts, for metrics and the writes-per-lease benchmark. */
  readonly stats = { writes: 0, reads: 0 };
  readonly #client: DynamoDBClient;
  readonly #activeTimeoutMs: number;
  readonly #maxScanPages: number;

  constructor(options: DynamoDBLeaseStoreOptions) {
    this.#client = options.client;
    this.tableName = options.tableName;
    this.#activeTimeoutMs = options.tableActiveTimeoutMs ?? 60_000;
    this.#maxScanPages = options.maxScanPages ?? 1_000;
  }

  async ensureTable(): Promise<void> {
    const status = await this.#tableStatus();
    if (status === undefined) {
      try {
        await this.#client.send(
          new CreateTableCommand({
            TableName: this.tableName,
            AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' }],
            KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
            BillingMode: 'PAY_PER_REQUEST',
          }),
        );
      } catch (error) {
        // Another worker created it first: fine, wait for it like our own.
        if (!(error instanceof ResourceInUseException)) {
          throw new LeaseTableError(`cannot create lease table ${this.tableName}`, error);
        }
      }
    }
    const deadline = Date.now() + this.#activeTimeoutMs;
    while ((await this.#tableStatus()) !== 'ACTIVE') {
      if (Date.now() >= deadline) {
        throw new LeaseTableError(
          `lease table ${this.tableName} not ACTIVE after ${this.#activeTimeoutMs} ms`,
          undefined,
        );
      }
      await sleep(250);
    }
  }

  async listLeases(): Promise<Lease[]> {
    const leases: Lease[] = [];
    let startKey: Item | undefined;
    for (let page = 0; page < this.#maxScanPages; page++) {
      this.stats.reads++;
      const response = await this.#client.send(
        new ScanCommand({ TableName: this.tableName, ConsistentRead: true, ExclusiveStartKey: startKey }),
      );
      for (const item of response.Items ?? []) leases.push(fromItem(item));
      startKey = response.LastEvaluatedKey;
      if (!startKey) return leases;
    }
    throw new LeaseTableError(
      `lease table ${this.tableName} has more than ${this.#maxScanPages} pages`,
      undefined,
      false,
    );
  }

  async getLease(leaseKey: string): Promise<Lease | undefined> {
    this.stats.reads++;
    const response = await this.#client.send(
      new GetItemCommand({ TableName: this.tableName, Key: key(leaseKey), ConsistentRead: true }),
    );
    return response.Item ? fromItem(response.Item) : undefined;
  }

  async createLeaseIfNotExists(lease: NewLease): Promise<boolean> {
    const item: Item = {
      leaseKey: { S: lease.leaseKey },
      leaseCounter: { N: '0' },
      checkpoint: { S: lease.checkpoint },
      checkpointSubSequenceNumber: { N: String(lease.checkpointSubSequenceNumber ?? 0) },
      ownerSwitchesSinceCheckpoint: { N: '0' },
    };
    if (lease.parentShardIds && lease.parentShardIds.length > 0)
      item.parentShardId = { SS: [...lease.parentShardIds] };
    if (lease.startingHashKey !== undefined) item.startingHashKey = { S: lease.startingHashKey };
    if (lease.endingHashKey !== undefined) item.endingHashKey = { S: lease.endingHashKey };
    return this.#conditional(() =>
      this.#client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(leaseKey)',
        }),
      ),
    );
  }

  async renewLease(lease: Lease, owner: string): Promise<Lease | undefined> {
    const next = lease.leaseCounter + 1;
    if (await this.#renew(lease, owner)) return { ...lease, leaseOwner: owner, leaseCounter: next };
    return this.#landedAnyway(lease.leaseKey, owner, next);
  }

  #renew(lease: Lease, owner: string): Promise<boolean> {
    return this.#conditional(() =>
      this.#update(lease.leaseKey, {
        update: 'SET leaseCounter = :next',
        condition: 'leaseCounter = :expected AND leaseOwner = :owner',
        values: {
          ':next': num(lease.leaseCounter + 1),
          ':expected': num(lease.leaseCounter),
          ':owner': { S: owner },
        },
      }),
    );
  }

  async takeLease(lease: Lease, owner: string): Promise<Lease | undefined> {
    const next = lease.leaseCounter + 1;
    const switched = lease.leaseOwner !== owner;
    const ok = await this.#conditional(() =>
      this.#update(lease.leaseKey, {
        update: switched
          ? 'SET leaseCounter = :next, leaseOwner = :owner ADD ownerSwitchesSinceCheckpoint :one'
          : 'SET leaseCounter = :next, leaseOwner = :owner',
        condition: 'leaseCounter = :expected',
        values: {
          ':next': num(next),
          ':expected': num(lease.leaseCounter),
          ':owner': { S: owner },
          ...(switched ? { ':one': num(1) } : {}),
        },
      }),
    );
    if (ok) {
      const switches = lease.ownerSwitchesSinceCheckpoint + (switched ? 1 : 0);
      return { ...lease, leaseOwner: owner, leaseCounter: next, ownerSwitchesSinceCheckpoint: switches };
    }
    return this.#landedAnyway(lease.leaseKey, owner, next);
  }

  async evictLease(lease: Lease, owner: string): Promise<boolean> {
    const ok = await this.#conditional(() =>
      this.#update(lease.leaseKey, {
        update: 'REMOVE leaseOwner ADD leaseCounter :one',
        condition: 'leaseOwner = :owner',
        values: { ':owner': { S: owner }, ':one': num(1) },
      }),
    );
    if (ok) return true;
    // Either someone else owns it now or an earlier attempt of ours already removed the owner.
    const current = await this.getLease(lease.leaseKey);
    return current === undefined || current.leaseOwner === undefined;
  }

  async checkpoint(
    lease: Lease,
    owner: string,
    checkpoint: string,
    subSequenceNumber: number,
  ): Promise<Lease | undefined> {
    const next = lease.leaseCounter + 1;
    const ok = await this.#conditional(() =>
      this.#update(lease.leaseKey, {
        update:
          'SET leaseCounter = :next, checkpoint = :cp, checkpointSubSequenceNumber = :sub, ownerSwitchesSinceCheckpoint = :zero REMOVE pendingCheckpoint, pendingCheckpointSubSequenceNumber',
        condition: 'leaseCounter = :expected AND leaseOwner = :owner',
        values: {
          ':next': num(next),
          ':expected': num(lease.leaseCounter),
          ':owner': { S: owner },
          ':cp': { S: checkpoint },
          ':sub': num(subSequenceNumber),
          ':zero': num(0),
        },
      }),
    );
    const written: Lease = {
      ...lease,
      leaseOwner: owner,
      leaseCounter: next,
      checkpoint,
      checkpointSubSequenceNumber: subSequenceNumber,
      ownerSwitchesSinceCheckpoint: 0,
    };
    if (ok) return written;
    const current = await this.#landedAnyway(lease.leaseKey, owner, next);
    return current &&
      current.checkpoint === checkpoint &&
      current.checkpointSubSequenceNumber === subSequenceNumber
      ? current
      : undefined;
  }

  async addChildShardIds(leaseKey: string, childShardIds: readonly string[]): Promise<void> {
    if (childShardIds.length === 0) return;
    await this.#conditional(() =>
      this.#update(leaseKey, {
        update: 'ADD childShardIds :children',
        condition: 'attribute_exists(leaseKey)',
        values: { ':children': { SS: [...childShardIds] } },
      }),
    );
  }

  async deleteLease(lease: Lease): Promise<boolean> {
    // Every write bumps the counter except addChildShardIds (harmless here) and a KCL 3.x graceful handoff,
    // which sets the owner alone: hence the owner in the condition too.
    const values: Record<string, AttributeValue> = {
      ':counter': num(lease.leaseCounter),
      ':cp': { S: lease.checkpoint },
    };
    let condition = 'leaseCounter = :counter AND checkpoint = :cp';
    if (lease.leaseOwner === undefined) condition += ' AND attribute_not_exists(leaseOwner)';
    else {
      condition += ' AND leaseOwner = :owner';
      values[':owner'] = { S: lease.leaseOwner };
    }
    return this.#conditional(() =>
      this.#client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: key(lease.leaseKey),
          ConditionExpression: condition,
          ExpressionAttributeValues: values,
        }),
      ),
    );
  }

  /**
   * After a failed condition: the SDK may have retried a write that had in fact landed (the response was
   * lost). If the lease now reads exactly as our write would have left it, the write succeeded. But it may
   * as well have been an *earlier* call of ours that failed (and was sent earlier), while the caller dates
   * the lease from when this call was sent; one more renewal, sent during this call, makes that date true.
   */
  async #landedAnyway(leaseKey: string, owner: string, counter: number): Promise<Lease | undefined> {
    const current = await this.getLease(leaseKey);
    if (!current || current.leaseOwner !== owner || current.leaseCounter !== counter) return undefined;
    if (await this.#renew(current, owner)) return { ...current, leaseCounter: counter + 1 };
    // Only this renewal can have written counter + 1 (the writes on one held lease are serialized).
    const after = await this.getLease(leaseKey);
    return after && after.leaseOwner === owner && after.leaseCounter === counter + 1 ? after : undefined;
  }

  /** Runs a conditional write: true when it applied, false when the condition failed. */
  async #conditional(write: () => Promise<unknown>): Promise<boolean> {
    this.stats.writes++;
    try {
      await write();
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw new LeaseTableError(`lease table ${this.tableName} write failed`, error);
    }
  }

  #update(
    leaseKey: string,
    spec: { update: string; condition: string; values: Record<string, AttributeValue> },
  ): Promise<unknown> {
    return this.#client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: key(leaseKey),
        UpdateExpression: spec.update,
        ConditionExpression: spec.condition,
        ExpressionAttributeValues: spec.values,
      }),
    );
  }

  async #tableStatus(): Promise<string | undefined> {
    try {
      const { Table } = await this.#client.send(new DescribeTableCommand({ TableName: this.tableName }));
      return Table?.TableStatus ?? 'UNKNOWN';
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return undefined;
      throw new LeaseTableError(`cannot describe lease table ${this.tableName}`, error);
    }
  }
}

function key(leaseKey: string): Item {
  return { leaseKey: { S: leaseKey } };
}

function num(value: number): AttributeValue {
  return { N: String(value) };
}

/** Reads an item written by us or by the Java KCL (2.x or 3.x); unknown attributes are ignored. */
export function fromItem(item: Item): Lease {
  return {
    leaseKey: item.leaseKey?.S ?? '',
    leaseOwner: item.leaseOwner?.S,
    leaseCounter: Number(item.leaseCounter?.N ?? '0'),
    checkpoint: item.checkpoint?.S ?? 'TRIM_HORIZON',
    checkpointSubSequenceNumber: Number(item.checkpointSubSequenceNumber?.N ?? '0'),
    ownerSwitchesSinceCheckpoint: Number(item.ownerSwitchesSinceCheckpoint?.N ?? '0'),
    parentShardIds: item.parentShardId?.SS ?? [],
    childShardIds: item.childShardIds?.SS ?? [],
    startingHashKey: item.startingHashKey?.S,
    endingHashKey: item.endingHashKey?.S,
  };
}
