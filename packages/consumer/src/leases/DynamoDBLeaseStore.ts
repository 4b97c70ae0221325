import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  UpdateItemCommand,
  type UpdateItemCommandOutput,
} from '@aws-sdk/client-dynamodb';
import { LeaseTableError } from '../errors.js';
import type { Lease, NewLease } from './Lease.js';
import type { LeaseStore } from './LeaseStore.js';
import { ensureTable, tableCall } from './tables.js';

/** The KCL 3.x index of leases by owner: HASH `leaseOwner`, RANGE `leaseKey`, keys only. */
export const LEASE_OWNER_INDEX = 'LeaseOwnerToLeaseKeyIndex';

/** KCL 3.5 marks lease items so; other values are its worker-metrics and coordinator items in the same table. */
const LEASE_ENTITY = 'LEASE';

type Item = Record<string, AttributeValue>;

/** Options for {@link DynamoDBLeaseStore}. */
export interface DynamoDBLeaseStoreOptions {
  client: DynamoDBClient;
  tableName: string;
  /** How long `ensureTable` waits for a new table to become ACTIVE. @defaultValue `60_000` */
  tableActiveTimeoutMs?: number;
  /** At most this many Scan pages per `listLeases` (bounds a runaway table). @defaultValue `1_000` */
  maxScanPages?: number;
  /**
   * Read the whole table with strongly consistent scans (twice the read units). Taking leases never needs it:
   * a stale item can only delay an expiry or lose a conditional write.
   * @defaultValue `false`
   */
  consistentScans?: boolean;
  /**
   * This worker's current `throughputKBps` for a lease it holds (see {@link Lease.throughputKBps}), written
   * with every renewal and checkpoint as the KCL 3.x writes it; `undefined` writes nothing.
   * @defaultValue none (nothing written)
   */
  throughputOf?: ((leaseKey: string) => number | undefined) | undefined;
}

/**
 * The lease table in the KCL 2.x and 3.x item shape (see the README): `throughputKBps` written with renewals,
 * `checkpointOwner` during handoffs, `entityType` on new items, the `LeaseOwnerToLeaseKeyIndex` on a new table.
 * Unknown attributes written by other tools are left alone: every change is an UpdateItem that names only the
 * attributes it changes; items the KCL 3.5 keeps in the lease table that are not leases are skipped.
 */
export class DynamoDBLeaseStore implements LeaseStore {
  readonly tableName: string;
  /** Write and read request counts, for metrics and the writes-per-lease benchmark. */
  readonly stats = { writes: 0, reads: 0, readUnits: 0, writeUnits: 0 };
  readonly #client: DynamoDBClient;
  readonly #activeTimeoutMs: number;
  readonly #maxScanPages: number;
  readonly #consistentScans: boolean;
  readonly #throughputOf: (leaseKey: string) => number | undefined;
  /** Whether the table has the owner index, ACTIVE (known after {@link ensureTable}). */
  ownerIndexActive = false;

  constructor(options: DynamoDBLeaseStoreOptions) {
    this.#client = options.client;
    this.tableName = options.tableName;
    this.#activeTimeoutMs = options.tableActiveTimeoutMs ?? 60_000;
    this.#maxScanPages = options.maxScanPages ?? 1_000;
    this.#consistentScans = options.consistentScans ?? false;
    this.#throughputOf = options.throughputOf ?? (() => undefined);
  }

  /** Creates the table with the owner index (as the KCL 3.x does); an existing table is used as it is. */
  async ensureTable(): Promise<void> {
    const indexes = await ensureTable(this.#client, this.tableName, 'leaseKey', this.#activeTimeoutMs, [
      { name: LEASE_OWNER_INDEX, hashKey: 'leaseOwner', rangeKey: 'leaseKey' },
    ]);
    this.ownerIndexActive = indexes.includes(LEASE_OWNER_INDEX);
  }

  /**
   * The keys of the leases owned by `owner`, from the owner index (eventually consistent: a lease just given
   * to `owner` may be missing, one just taken from it may still be listed), or `undefined` when the table has
   * no such index. Costs a few bytes per lease of `owner` instead of a scan of every item.
   */
  async listLeaseKeysOwnedBy(owner: string): Promise<string[] | undefined> {
    if (!this.ownerIndexActive) return undefined;
    const keys: string[] = [];
    let startKey: Item | undefined;
    for (let page = 0; page < this.#maxScanPages; page++) {
      this.stats.reads++;
      const response = await this.#call('Query', () =>
        this.#client.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: LEASE_OWNER_INDEX,
            KeyConditionExpression: 'leaseOwner = :owner',
            ExpressionAttributeValues: { ':owner': { S: owner } },
            ExclusiveStartKey: startKey,
            ReturnConsumedCapacity: 'TOTAL',
          }),
        ),
      );
      for (const item of response.Items ?? []) if (item.leaseKey?.S) keys.push(item.leaseKey.S);
      startKey = response.LastEvaluatedKey;
      if (!startKey) return keys;
    }
    throw new LeaseTableError(
      `lease table ${this.tableName}: owner index has more than ${this.#maxScanPages} pages for ${owner}`,
      undefined,
      false,
    );
  }

  async listLeases(): Promise<Lease[]> {
    const leases: Lease[] = [];
    let startKey: Item | undefined;
    for (let page = 0; page < this.#maxScanPages; page++) {
      this.stats.reads++;
      const response = await this.#call('Scan', () =>
        this.#client.send(
          new ScanCommand({
            TableName: this.tableName,
            ConsistentRead: this.#consistentScans,
            ExclusiveStartKey: startKey,
            ReturnConsumedCapacity: 'TOTAL',
          }),
        ),
      );
      for (const item of response.Items ?? []) if (isLease(item)) leases.push(fromItem(item));
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
    const response = await this.#call('GetItem', () =>
      this.#client.send(
        new GetItemCommand({
          TableName: this.tableName,
          Key: key(leaseKey),
          ConsistentRead: true,
          ReturnConsumedCapacity: 'TOTAL',
        }),
      ),
    );
    return response.Item && isLease(response.Item) ? fromItem(response.Item) : undefined;
  }

  async createLeaseIfNotExists(lease: NewLease): Promise<boolean> {
    const item: Item = {
      leaseKey: { S: lease.leaseKey },
      leaseCounter: { N: '0' },
      checkpoint: { S: lease.checkpoint },
      checkpointSubSequenceNumber: { N: String(lease.checkpointSubSequenceNumber ?? 0) },
      ownerSwitchesSinceCheckpoint: { N: '0' },
      entityType: { S: LEASE_ENTITY },
    };
    if (lease.parentShardIds && lease.parentShardIds.length > 0)
      item.parentShardId = { SS: [...lease.parentShardIds] };
    if (lease.startingHashKey !== undefined) item.startingHashKey = { S: lease.startingHashKey };
    if (lease.endingHashKey !== undefined) item.endingHashKey = { S: lease.endingHashKey };
    if (lease.streamName !== undefined) item.streamName = { S: lease.streamName };
    if (lease.shardId !== undefined) item.shardId = { S: lease.shardId };
    return this.#conditional(() =>
      this.#client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(leaseKey)',
          ReturnConsumedCapacity: 'TOTAL',
        }),
      ),
    );
  }

  async renewLease(lease: Lease, holder: string): Promise<Lease | undefined> {
    const next = lease.leaseCounter + 1;
    const written = await this.#renew(lease, holder);
    if (written) return written;
    return this.#landedAnyway(lease.leaseKey, holder, next);
  }

  /**
   * The holder's renewal: the owner, or the previous owner during a handoff (KCL 3.x keeps renewing it too).
   * Returns the item as written, so the holder learns of a handoff request from its own renewal.
   */
  #renew(lease: Lease, holder: string): Promise<Lease | undefined> {
    const throughput = this.#throughput(lease.leaseKey);
    return this.#write(lease.leaseKey, {
      update: `SET leaseCounter = :next${throughput.set}`,
      condition: HELD_BY,
      values: {
        ':next': num(lease.leaseCounter + 1),
        ':expected': num(lease.leaseCounter),
        ':holder': { S: holder },
        ...throughput.values,
      },
    });
  }

  /** The `throughputKBps` part of a holder's write: 6 decimals, as the KCL 3.x rounds it. */
  #throughput(leaseKey: string): { set: string; values: Record<string, AttributeValue> } {
    const kbps = this.#throughputOf(leaseKey);
    if (kbps === undefined || !Number.isFinite(kbps) || kbps < 0) return { set: '', values: {} };
    return { set: ', throughputKBps = :kbps', values: { ':kbps': num(Math.round(kbps * 1e6) / 1e6) } };
  }

  async takeLease(lease: Lease, owner: string): Promise<Lease | undefined> {
    const next = lease.leaseCounter + 1;
    const switched = lease.leaseOwner !== owner || lease.checkpointOwner !== undefined;
    // Ends a handoff in progress too (as the KCL 3.x takeLease does): the taker owns it outright.
    const written = await this.#write(lease.leaseKey, {
      update: switched
        ? 'SET leaseCounter = :next, leaseOwner = :owner REMOVE checkpointOwner ADD ownerSwitchesSinceCheckpoint :one'
        : 'SET leaseCounter = :next, leaseOwner = :owner REMOVE checkpointOwner',
      condition: 'leaseCounter = :expected',
      values: {
        ':next': num(next),
        ':expected': num(lease.leaseCounter),
        ':owner': { S: owner },
        ...(switched ? { ':one': num(1) } : {}),
      },
    });
    if (written) return written;
    return this.#landedAnyway(lease.leaseKey, owner, next);
  }

  async requestHandoff(lease: Lease, newOwner: string): Promise<boolean> {
    if (lease.leaseOwner === undefined) return false;
    const written = await this.#write(lease.leaseKey, {
      update: 'SET leaseOwner = :new, checkpointOwner = :old',
      condition: 'leaseOwner = :old AND attribute_not_exists(checkpointOwner)',
      values: { ':new': { S: newOwner }, ':old': { S: lease.leaseOwner } },
    });
    return written !== undefined;
  }

  async transferLease(lease: Lease, holder: string): Promise<boolean> {
    const written = await this.#write(lease.leaseKey, {
      update: 'REMOVE checkpointOwner ADD leaseCounter :one, ownerSwitchesSinceCheckpoint :one',
      condition: 'checkpointOwner = :holder AND leaseCounter = :expected',
      values: { ':holder': { S: holder }, ':expected': num(lease.leaseCounter), ':one': num(1) },
    });
    if (written) return true;
    // A lost response after the transfer landed: then the handoff is over and someone else owns it.
    const current = await this.getLease(lease.leaseKey);
    return current === undefined || current.checkpointOwner !== holder;
  }

  async evictLease(lease: Lease, owner: string): Promise<boolean> {
    const written = await this.#write(lease.leaseKey, {
      update: 'REMOVE leaseOwner ADD leaseCounter :one',
      condition: 'leaseOwner = :owner AND attribute_not_exists(checkpointOwner)',
      values: { ':owner': { S: owner }, ':one': num(1) },
    });
    if (written) return true;
    // Either someone else owns it now or an earlier attempt of ours already removed the owner.
    const current = await this.getLease(lease.leaseKey);
    return current === undefined || current.leaseOwner === undefined;
  }

  async checkpoint(
    lease: Lease,
    holder: string,
    checkpoint: string,
    subSequenceNumber: number,
  ): Promise<Lease | undefined> {
    const next = lease.leaseCounter + 1;
    const throughput = this.#throughput(lease.leaseKey);
    const written = await this.#write(lease.leaseKey, {
      update: `SET leaseCounter = :next, checkpoint = :cp, checkpointSubSequenceNumber = :sub, ownerSwitchesSinceCheckpoint = :zero${throughput.set} REMOVE pendingCheckpoint, pendingCheckpointSubSequenceNumber`,
      condition: HELD_BY,
      values: {
        ...throughput.values,
        ':next': num(next),
        ':expected': num(lease.leaseCounter),
        ':holder': { S: holder },
        ':cp': { S: checkpoint },
        ':sub': num(subSequenceNumber),
        ':zero': num(0),
      },
    });
    if (written) return written;
    const current = await this.#landedAnyway(lease.leaseKey, holder, next);
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
          ReturnConsumedCapacity: 'TOTAL',
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
  async #landedAnyway(leaseKey: string, holder: string, counter: number): Promise<Lease | undefined> {
    const current = await this.getLease(leaseKey);
    if (!current || !heldBy(current, holder) || current.leaseCounter !== counter) return undefined;
    const renewed = await this.#renew(current, holder);
    if (renewed) return renewed;
    // Only this renewal can have written counter + 1 (the writes on one held lease are serialized).
    const after = await this.getLease(leaseKey);
    return after && heldBy(after, holder) && after.leaseCounter === counter + 1 ? after : undefined;
  }

  /** A conditional UpdateItem returning the item as written, or `undefined` when the condition failed. */
  async #write(
    leaseKey: string,
    spec: { update: string; condition: string; values: Record<string, AttributeValue> },
  ): Promise<Lease | undefined> {
    let attributes: Item | undefined;
    const ok = await this.#conditional(async () => {
      const response = await this.#update(leaseKey, spec, 'ALL_NEW');
      attributes = response.Attributes;
      return response;
    });
    return ok && attributes ? fromItem(attributes) : undefined;
  }

  /** Runs a conditional write: true when it applied, false when the condition failed. */
  async #conditional(
    write: () => Promise<{ ConsumedCapacity?: { CapacityUnits?: number | undefined } | undefined }>,
  ): Promise<boolean> {
    this.stats.writes++;
    try {
      const response = await write();
      this.stats.writeUnits += response.ConsumedCapacity?.CapacityUnits ?? 0;
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw new LeaseTableError(`lease table ${this.tableName}: write failed`, error);
    }
  }

  /** Runs a read; a failure becomes a {@link LeaseTableError} classified by its AWS error. */
  async #call<T extends { ConsumedCapacity?: { CapacityUnits?: number | undefined } | undefined }>(
    operation: string,
    send: () => Promise<T>,
  ): Promise<T> {
    const response = await tableCall(`lease table ${this.tableName}`, operation, send);
    this.stats.readUnits += response.ConsumedCapacity?.CapacityUnits ?? 0;
    return response;
  }

  #update(
    leaseKey: string,
    spec: { update: string; condition: string; values: Record<string, AttributeValue> },
    returnValues?: 'ALL_NEW',
  ): Promise<UpdateItemCommandOutput> {
    return this.#client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: key(leaseKey),
        UpdateExpression: spec.update,
        ConditionExpression: spec.condition,
        ExpressionAttributeValues: spec.values,
        ReturnConsumedCapacity: 'TOTAL',
        // Free of charge (no read units): tells a holder of a handoff request at its own renewal.
        ...(returnValues ? { ReturnValues: returnValues } : {}),
      }),
    );
  }
}

/** The holder of a lease may write it: its owner, or its previous owner while a handoff is in progress. */
const HELD_BY =
  'leaseCounter = :expected AND ((leaseOwner = :holder AND attribute_not_exists(checkpointOwner)) OR checkpointOwner = :holder)';

function heldBy(lease: Lease, holder: string): boolean {
  return lease.checkpointOwner === undefined ? lease.leaseOwner === holder : lease.checkpointOwner === holder;
}

function key(leaseKey: string): Item {
  return { leaseKey: { S: leaseKey } };
}

function num(value: number): AttributeValue {
  return { N: String(value) };
}

/** Whether an item of the lease table is a lease (KCL 3.5 items without `entityType` are leases too). */
function isLease(item: Item): boolean {
  const entityType = item.entityType?.S;
  return entityType === undefined || entityType === LEASE_ENTITY;
}

/** Reads an item written by us or by the Java KCL (2.x or 3.x); unknown attributes are ignored. */
export function fromItem(item: Item): Lease {
  const kbps = item.throughputKBps?.N === undefined ? undefined : Number(item.throughputKBps.N);
  return {
    leaseKey: item.leaseKey?.S ?? '',
    leaseOwner: item.leaseOwner?.S,
    checkpointOwner: item.checkpointOwner?.S,
    leaseCounter: Number(item.leaseCounter?.N ?? '0'),
    checkpoint: item.checkpoint?.S ?? 'TRIM_HORIZON',
    checkpointSubSequenceNumber: Number(item.checkpointSubSequenceNumber?.N ?? '0'),
    ownerSwitchesSinceCheckpoint: Number(item.ownerSwitchesSinceCheckpoint?.N ?? '0'),
    parentShardIds: item.parentShardId?.SS ?? [],
    childShardIds: item.childShardIds?.SS ?? [],
    startingHashKey: item.startingHashKey?.S,
    endingHashKey: item.endingHashKey?.S,
    throughputKBps: kbps !== undefined && Number.isFinite(kbps) ? kbps : undefined,
    ...(item.streamName?.S !== undefined ? { streamName: item.streamName.S } : {}),
    ...(item.shardId?.S !== undefined ? { shardId: item.shardId.S } : {}),
  };
}
