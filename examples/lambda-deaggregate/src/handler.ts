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
import { type OrderHandler, parseOrder, saveOrder } from './orders.js';

export { type Order, type OrderHandler, PoisonRecordError } from './orders.js';

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

/** The deployed entry point (`index.handler` of the bundle). */
export const handler = createHandler(saveOrder);
