import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { LeaseTableError } from '../errors.js';
import { ensureTable, tableCall } from './tables.js';
import type { WorkerHeartbeat, WorkerStore } from './WorkerStore.js';

type Item = Record<string, AttributeValue>;

/** Options for {@link DynamoDBWorkerStore}. */
export interface DynamoDBWorkerStoreOptions {
  client: DynamoDBClient;
  /** The heartbeat table: one small item per live worker (`workerId` hash key). */
  tableName: string;
  /** How long `ensureTable` waits for a new table to become ACTIVE. @defaultValue `60_000` */
  tableActiveTimeoutMs?: number;
}

/** At most this many Scan pages per `listWorkers` (a page holds thousands of workers). */
const MAX_PAGES = 100;

/** Worker heartbeats in their own DynamoDB table, beside the lease table (which stays in the KCL shape). */
export class DynamoDBWorkerStore implements WorkerStore {
  readonly tableName: string;
  /** Requests and consumed capacity units, for metrics and the lease-table cost benchmark. */
  readonly stats = { writes: 0, reads: 0, readUnits: 0, writeUnits: 0 };
  readonly #client: DynamoDBClient;
  readonly #activeTimeoutMs: number;

  constructor(options: DynamoDBWorkerStoreOptions) {
    this.#client = options.client;
    this.tableName = options.tableName;
    this.#activeTimeoutMs = options.tableActiveTimeoutMs ?? 60_000;
  }

  async ensureTable(): Promise<void> {
    await ensureTable(this.#client, this.tableName, 'workerId', this.#activeTimeoutMs);
  }

  async listWorkers(): Promise<WorkerHeartbeat[]> {
    const workers: WorkerHeartbeat[] = [];
    let startKey: Item | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const response = await this.#call('Scan', () =>
        this.#client.send(
          new ScanCommand({
            TableName: this.tableName,
            ExclusiveStartKey: startKey,
            ReturnConsumedCapacity: 'TOTAL',
          }),
        ),
      );
      this.stats.reads++;
      this.stats.readUnits += response.ConsumedCapacity?.CapacityUnits ?? 0;
      for (const item of response.Items ?? []) workers.push(fromItem(item));
      startKey = response.LastEvaluatedKey;
      if (!startKey) break;
    }
    return workers;
  }

  async getWorker(workerId: string): Promise<WorkerHeartbeat | undefined> {
    const response = await this.#call('GetItem', () =>
      this.#client.send(
        new GetItemCommand({
          TableName: this.tableName,
          Key: { workerId: { S: workerId } },
          ConsistentRead: true,
          ReturnConsumedCapacity: 'TOTAL',
        }),
      ),
    );
    this.stats.reads++;
    this.stats.readUnits += response.ConsumedCapacity?.CapacityUnits ?? 0;
    return response.Item ? fromItem(response.Item) : undefined;
  }

  async heartbeat(workerId: string, leaseChanges: number, transfers = 0): Promise<void> {
    const response = await this.#call('UpdateItem', () =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { workerId: { S: workerId } },
          UpdateExpression: 'SET leaseChanges = :changes, transfers = :transfers ADD heartbeat :one',
          ExpressionAttributeValues: {
            ':changes': { N: String(leaseChanges) },
            ':transfers': { N: String(transfers) },
            ':one': { N: '1' },
          },
          ReturnConsumedCapacity: 'TOTAL',
        }),
      ),
    );
    this.stats.writes++;
    this.stats.writeUnits += response.ConsumedCapacity?.CapacityUnits ?? 0;
  }

  async removeWorker(workerId: string, heartbeat?: number): Promise<void> {
    try {
      const response = await this.#client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: { workerId: { S: workerId } },
          ReturnConsumedCapacity: 'TOTAL',
          ...(heartbeat === undefined
            ? {}
            : {
                ConditionExpression: 'heartbeat = :hb',
                ExpressionAttributeValues: { ':hb': { N: String(heartbeat) } },
              }),
        }),
      );
      this.stats.writes++;
      this.stats.writeUnits += response.ConsumedCapacity?.CapacityUnits ?? 0;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return; // it came back to life: keep it
      throw new LeaseTableError(`worker table ${this.tableName}: DeleteItem failed`, error);
    }
  }

  #call<T>(operation: string, send: () => Promise<T>): Promise<T> {
    return tableCall(`worker table ${this.tableName}`, operation, send);
  }
}

function fromItem(item: Item): WorkerHeartbeat {
  return {
    workerId: item.workerId?.S ?? '',
    heartbeat: Number(item.heartbeat?.N ?? '0'),
    leaseChanges: Number(item.leaseChanges?.N ?? '0'),
    transfers: Number(item.transfers?.N ?? '0'),
  };
}
