/**
 * A Lambda handler for a Kinesis event source whose producers aggregate (the KPL, or @shardline/producer).
 * It imports only `@shardline/aggregation/lambda`: no AWS SDK and no protobuf runtime on the cold-start
 * path. Enable `ReportBatchItemFailures` on the event source mapping so the partial batch response is used:
 * Lambda then retries each failed shard from the aggregate that holds its first failed record, instead of
 * the whole batch (and no poison record blocks the shard forever once you bound retries on the mapping).
 */
import {
  type KinesisStreamBatchResponse,
  type KinesisStreamEvent,
  processKinesisEvent,
} from '@shardline/aggregation/lambda';

/** What this example's producers send: one order per user record. */
export interface Order {
  orderId: string;
  amount: number;
}

/** The business logic, one order at a time. Must be idempotent: see the README. */
export type OrderHandler = (
  order: Order,
  meta: { partitionKey: string; sequenceNumber: string },
) => Promise<void>;

export class PoisonRecordError extends Error {
  readonly code = 'POISON_RECORD';
  readonly retriable = false;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

function parseOrder(data: Uint8Array): Order {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(data));
  } catch (cause) {
    throw new PoisonRecordError('record is not a JSON order', { cause });
  }
  const order = value as Partial<Order> | null;
  if (!order || typeof order.orderId !== 'string' || typeof order.amount !== 'number') {
    throw new PoisonRecordError('record is not a JSON order');
  }
  return order as Order;
}

/** Builds a handler around your order logic (the test passes its own). */
export function createHandler(handleOrder: OrderHandler) {
  return (event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> =>
    processKinesisEvent(
      event,
      (record) =>
        handleOrder(parseOrder(record.data), {
          partitionKey: record.partitionKey,
          sequenceNumber: `${record.sequenceNumber}/${record.subSequenceNumber}`,
        }),
      {
        // Log where it stopped, never the payload.
        onFailure: (error, record, source) =>
          console.error(
            JSON.stringify({
              message: 'record failed; the shard will be retried from its aggregate',
              error: error instanceof Error ? error.message : String(error),
              eventID: source.eventID,
              subSequenceNumber: record?.subSequenceNumber,
            }),
          ),
      },
    );
}

/** The deployed entry point: replace the body with your own logic. */
export const handler = createHandler(async (order) => {
  if (order.amount < 0) throw new Error(`order ${order.orderId} has a negative amount`);
});
