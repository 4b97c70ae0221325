import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import { sleep } from '../backoff.js';
import { LeaseTableError } from '../errors.js';

/**
 * Creates a table keyed by one string hash key (PAY_PER_REQUEST) unless it exists, then waits until it is
 * ACTIVE. Safe when many workers start at once: a creation race is waited out like our own creation.
 */
export async function ensureTable(
  client: DynamoDBClient,
  tableName: string,
  hashKey: string,
  activeTimeoutMs: number,
): Promise<void> {
  if ((await tableStatus(client, tableName)) === undefined) {
    try {
      await client.send(
        new CreateTableCommand({
          TableName: tableName,
          AttributeDefinitions: [{ AttributeName: hashKey, AttributeType: 'S' }],
          KeySchema: [{ AttributeName: hashKey, KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
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
  while ((await tableStatus(client, tableName)) !== 'ACTIVE') {
    if (Date.now() >= deadline) {
      throw new LeaseTableError(`lease table ${tableName} not ACTIVE after ${activeTimeoutMs} ms`, undefined);
    }
    await sleep(250);
  }
}

async function tableStatus(client: DynamoDBClient, tableName: string): Promise<string | undefined> {
  try {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    return Table?.TableStatus ?? 'UNKNOWN';
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
