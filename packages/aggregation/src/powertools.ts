// `@shardline/aggregation/powertools`: KPL de-aggregation inside Powertools for AWS Lambda's batch processing
// (`@aws-lambda-powertools/batch`). Nothing of Powertools is imported here, not even its types: the wrapper
// is a plain function of the shape Powertools calls (`handler(record, context)`), so this entry costs a user
// who does not use Powertools nothing, and one who does gets only their own copy of it.
import { deaggregate } from './deaggregate.js';
import { UserRecordHandlerError } from './errors.js';
import type { DeaggregateEventOptions, KinesisStreamRecord } from './lambda.js';
import type { UserRecord } from './types.js';

/**
 * Handles one user record. `source` is the Kinesis record (event record) that carried it; `context` is what
 * Powertools passes its record handlers (the Lambda context, when given to `processPartialResponse` as
 * `{ context }`). A throw or rejection fails the whole Kinesis record.
 */
export type KplUserRecordHandler<TContext = unknown> = (
  record: UserRecord,
  source: KinesisStreamRecord,
  context: TContext | undefined,
) => void | Promise<void>;

/** Options of {@link kplRecordHandler}: those of `deaggregate` that apply in Lambda. */
export type KplRecordHandlerOptions = DeaggregateEventOptions;

/**
 * A Powertools record handler for Kinesis event records: what `processPartialResponse` (or
 * `processPartialResponseSync`) calls once per Kinesis record.
 */
export type KinesisRecordHandler<TContext = unknown> = (
  record: KinesisStreamRecord,
  context?: TContext,
) => void | Promise<void>;

/**
 * Turns a user record handler into a Powertools Kinesis record handler:
 * `processPartialResponse(event, kplRecordHandler(handler), processor)`. Each Kinesis record is
 * de-aggregated (a record that is not an aggregate is one user record) and `handler` runs on its user
 * records one at a time, in order. At the first that fails, the rest of that aggregate is skipped and the
 * Kinesis record fails with a {@link UserRecordHandlerError} (its `cause` is the handler's error), so
 * Powertools reports the Kinesis record's sequence number in `batchItemFailures` as it does for any failed
 * record. Lambda retries whole Kinesis records, so the user records before the failure in that aggregate are
 * delivered again: make `handler` idempotent.
 *
 * While `handler` returns nothing (a synchronous handler), the wrapper returns nothing either, so it also
 * works with `BatchProcessorSync`; once `handler` returns a promise, the wrapper returns one.
 *
 * Do not combine it with a Powertools `parser` schema that decodes `kinesis.data`: the wrapper needs the raw
 * base64 data; parse each user record's `data` in `handler` instead.
 * @throws InvalidRecordError (to Powertools, failing the record) when the record has no base64 data; in
 * `strict` mode also ChecksumMismatchError and AggregationFormatError.
 */
export function kplRecordHandler<TContext = unknown>(
  handler: KplUserRecordHandler<TContext>,
  options: KplRecordHandlerOptions = {},
): KinesisRecordHandler<TContext> {
  // Only the options that apply: Lambda does not tell a function its shard's hash key range.
  const deaggregateOptions: KplRecordHandlerOptions = {};
  if (options.verifyChecksum !== undefined) deaggregateOptions.verifyChecksum = options.verifyChecksum;
  if (options.strict !== undefined) deaggregateOptions.strict = options.strict;
  return (source, context) => {
    const users = deaggregate(source.kinesis, deaggregateOptions);
    for (let i = 0; i < users.length; i++) {
      const user = users[i] as UserRecord;
      let pending: void | Promise<void>;
      try {
        pending = handler(user, source, context);
      } catch (error) {
        throw new UserRecordHandlerError(user, error);
      }
      if (pending !== undefined) return finish(pending, users, i, source, context, handler);
    }
    return undefined;
  };
}

/** The rest of an aggregate once its handler went asynchronous, from the user record at `index`. */
async function finish<TContext>(
  first: Promise<void>,
  users: UserRecord[],
  index: number,
  source: KinesisStreamRecord,
  context: TContext | undefined,
  handler: KplUserRecordHandler<TContext>,
): Promise<void> {
  let user = users[index] as UserRecord;
  try {
    await first;
    for (let i = index + 1; i < users.length; i++) {
      user = users[i] as UserRecord;
      await handler(user, source, context);
    }
  } catch (error) {
    throw new UserRecordHandlerError(user, error);
  }
}

export type { DeaggregateEventOptions, KinesisStreamRecord } from './lambda.js';
export type { UserRecord } from './types.js';
