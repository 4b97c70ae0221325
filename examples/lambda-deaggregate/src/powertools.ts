/**
 * The same Lambda handler in the Powertools style: Powertools for AWS Lambda's batch utility
 * (`@aws-lambda-powertools/batch`) drives the batch and builds the partial batch response, and
 * `kplRecordHandler` from `@shardline/aggregation/powertools` de-aggregates each Kinesis record for it and
 * calls the order logic once per user record. A failed user record fails its whole Kinesis record (the
 * aggregate), which Powertools reports by sequence number, so Lambda retries from there. Enable
 * `ReportBatchItemFailures` on the event source mapping, as for the plain style.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { kplRecordHandler } from '@shardline/aggregation/powertools';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { type OrderHandler, parseOrder, saveOrder } from './orders.js';

/** Builds a Powertools-driven handler around your order logic (the test passes its own). */
export function createPowertoolsHandler(handleOrder: OrderHandler) {
  const processor = new BatchProcessor(EventType.KinesisDataStreams);
  const recordHandler = kplRecordHandler((record) =>
    handleOrder(parseOrder(record.data), {
      partitionKey: record.partitionKey,
      sequenceNumber: `${record.sequenceNumber}/${record.subSequenceNumber}`,
    }),
  );
  return async (event: KinesisStreamEvent, context?: Context): Promise<KinesisStreamBatchResponse> => {
    try {
      // One Kinesis record at a time, in event order, as a shard must be read. Unlike processKinesisEvent,
      // Powertools goes on past a failed record; Lambda then retries the shard from the failed one, so the
      // records after it are delivered again too (handlers are idempotent anyway).
      return await processPartialResponse(event, recordHandler, processor, {
        ...(context === undefined ? {} : { context }),
        processInParallel: false,
      });
    } finally {
      // Log what failed, never the payload: UserRecordHandlerError names the sequence and sub-sequence
      // numbers and the handler's reason.
      for (const error of processor.errors) {
        console.error(
          JSON.stringify({
            message: 'record failed; Lambda will retry the shard from its aggregate',
            error: error.message,
          }),
        );
      }
    }
  };
}

/** The deployed entry point (`index.handler` of the Powertools bundle). */
export const handler = createPowertoolsHandler(saveOrder);
