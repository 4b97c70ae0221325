import {
  type AttributeDefinition,
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
  ResourceInUseException,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import { sleep } from '../backoff.js';
import { LeaseTableError } from '../errors.js';

/** A global secondary index created with a new table (its key attributes are all strings). */
export interface IndexSpec {
  name: string;
  hashKey: string;
  rangeKey: string;
}

/**
 * Creates a table keyed by one string hash key (PAY_PER_REQUEST, with `indexes` projecting keys only) unless
 * it exists, then waits until it is ACTIVE. Safe when many workers start at once: a creation race is waited
 * out like our own creation. An existing table is used as it is (no index is added to it). Resolves to the
 * names of the table's indexes that are ACTIVE.
 */
export async function ensureTable(
  client: DynamoDBClient,
  tableName: string,
  hashKey: string,
  activeTimeoutMs: number,
  indexes: readonly IndexSpec[] = [],
): Promise<string[]> {
  if ((await describe(client, tableName)) === undefined) {
    const names = new Set([hashKey, ...indexes.flatMap((index) => [index.hashKey, index.rangeKey])]);
    const definitions: AttributeDefinition[] = [...names].map((name) => ({
      AttributeName: name,
      AttributeType: 'S',
    }));
    const gsis: GlobalSecondaryIndex[] = indexes.map((index) => ({
      IndexName: index.name,
      KeySchema: [
        { AttributeName: index.hashKey, KeyType: 'HASH' },
        { AttributeName: index.rangeKey, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'KEYS_ONLY' },
    }));
    try {
      await client.send(
        new CreateTableCommand({
          TableName: tableName,
          AttributeDefinitions: definitions,
          KeySchema: [{ AttributeName: hashKey, KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
          ...(gsis.length > 0 ? { GlobalSecondaryIndexes: gsis } : {}),
        }),
      );
    } catch (error) {
      // Another worker created it first: fine, wait for it like our own.
      if (!(error instanceof ResourceInUseException)) {
        throw new LeaseTableError(`lease table ${tableName}: CreateTable failed`, error);
      }
    }
  }
  const deadline = Date.now() + activeTimeoutMs;
  for (;;) {
    const table = await describe(client, tableName);
    if (table?.status === 'ACTIVE') return table.activeIndexes;
    if (Date.now() >= deadline) {
      throw new LeaseTableError(`lease table ${tableName} not ACTIVE after ${activeTimeoutMs} ms`, undefined);
    }
    await sleep(250);
  }
}

async function describe(
  client: DynamoDBClient,
  tableName: string,
): Promise<{ status: string; activeIndexes: string[] } | undefined> {
  try {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    return {
      status: Table?.TableStatus ?? 'UNKNOWN',
      activeIndexes: (Table?.GlobalSecondaryIndexes ?? [])
        .filter((index) => index.IndexStatus === 'ACTIVE' && index.IndexName !== undefined)
        .map((index) => index.IndexName as string),
    };
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw new LeaseTableError(`lease table ${tableName}: DescribeTable failed`, error);
  }
}

/**
 * Runs one call on a table; a failure becomes a {@link LeaseTableError} naming the table (`label`, such as
 * "lease table app") and the operation, classified by its AWS error.
 */
export async function tableCall<T>(label: string, operation: string, send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (error) {
    throw new LeaseTableError(`${label}: ${operation} failed`, error);
  }
}
