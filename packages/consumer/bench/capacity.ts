// Lease-table cost accounting for the benchmarks (not a benchmark itself): per-operation request counts and
// the capacity units DynamoDB reported (ReturnConsumedCapacity), taken from an SDK middleware so the code
// under test is unchanged, and item sizes by DynamoDB's documented rule.
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';

/** One kind of request, e.g. `lease Scan` or `heartbeat UpdateItem`. */
export interface OperationTally {
  /** Requests that succeeded. */
  count: number;
  /** Requests that failed (a failed condition included: DynamoDB charges those too, but reports nothing). */
  failed: number;
  /** Capacity units reported by the successful ones. */
  units: number;
  /** Time spent in these requests (ms, SDK retries included), for their mean latency. */
  ms: number;
}

export type Tally = Map<string, OperationTally>;

/**
 * Adds a middleware to `client` that tallies every request by table kind (`heartbeat` for tables
 * `isHeartbeatTable` names, `lease` otherwise) and operation.
 */
export function tallyCapacity(
  client: DynamoDBClient,
  tally: Tally,
  isHeartbeatTable: (tableName: string) => boolean,
): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const table = (args.input as { TableName?: string }).TableName ?? '';
      const key = `${isHeartbeatTable(table) ? 'heartbeat' : 'lease'} ${(context.commandName ?? '?').replace(/Command$/, '')}`;
      const entry = tally.get(key) ?? { count: 0, failed: 0, units: 0, ms: 0 };
      tally.set(key, entry);
      const sentAt = performance.now();
      try {
        const result = await next(args);
        const consumed = (result.output as { ConsumedCapacity?: { CapacityUnits?: number } })
          .ConsumedCapacity;
        entry.count++;
        entry.units += consumed?.CapacityUnits ?? 0;
        return result;
      } catch (error) {
        entry.failed++;
        throw error;
      } finally {
        entry.ms += performance.now() - sentAt;
      }
    },
    { step: 'initialize', name: 'benchCapacityTally' },
  );
}

/** A copy of the tally, to subtract later with {@link tallySince}. */
export function snapshotTally(tally: Tally): Tally {
  return new Map([...tally].map(([key, entry]) => [key, { ...entry }]));
}

/** What was tallied since `before`. */
export function tallySince(tally: Tally, before: Tally): Tally {
  const out: Tally = new Map();
  for (const [key, entry] of tally) {
    const was = before.get(key) ?? { count: 0, failed: 0, units: 0, ms: 0 };
    const diff = {
      count: entry.count - was.count,
      failed: entry.failed - was.failed,
      units: entry.units - was.units,
      ms: entry.ms - was.ms,
    };
    if (diff.count > 0 || diff.failed > 0) out.set(key, diff);
  }
  return out;
}

/**
 * An item's size by DynamoDB's rule: each attribute's name (UTF-8 bytes) plus its value: strings and binary by
 * their bytes, numbers 1 byte plus 1 per two significant digits, sets the sum of their members, booleans and
 * null 1 byte, lists and maps 3 bytes plus 1 per element (and the elements, and a map's names).
 */
export function itemBytes(item: Record<string, AttributeValue>): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) size += Buffer.byteLength(name) + valueBytes(value);
  return size;
}

function valueBytes(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S);
  if (value.N !== undefined) return numberBytes(value.N);
  if (value.B !== undefined) return value.B.byteLength;
  if (value.SS !== undefined) return value.SS.reduce((sum, s) => sum + Buffer.byteLength(s), 0);
  if (value.NS !== undefined) return value.NS.reduce((sum, n) => sum + numberBytes(n), 0);
  if (value.BS !== undefined) return value.BS.reduce((sum, b) => sum + b.byteLength, 0);
  if (value.L !== undefined) return 3 + value.L.reduce((sum, v) => sum + 1 + valueBytes(v), 0);
  if (value.M !== undefined) return 3 + Object.keys(value.M).length + itemBytes(value.M);
  return 1; // BOOL, NULL
}

function numberBytes(text: string): number {
  const digits = text
    .replace(/^[-+]/, '')
    .replace(/[eE].*$/, '')
    .replace('.', '')
    .replace(/^0+/, '')
    .replace(/0+$/, '');
  return 1 + Math.ceil(Math.max(1, digits.length) / 2);
}

/**
 * Read units of one Scan over items of these total bytes, by DynamoDB's rule: the items of each page (at most
 * 1 MB) summed and rounded up to 4 KB, one unit per 4 KB strongly consistent, half that eventually consistent.
 */
export function scanUnits(totalBytes: number, consistent: boolean): number {
  const pages = Math.max(1, Math.ceil(totalBytes / (1024 * 1024)));
  const perPage = totalBytes / pages;
  return pages * Math.ceil(perPage / 4096) * (consistent ? 1 : 0.5);
}
