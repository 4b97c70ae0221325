// `@shardline/aggregation/lambda`: de-aggregation for Lambda functions with a Kinesis event source, and
// Lambda's partial batch response. Event types are declared here structurally (no runtime or type
// dependency on the AWS SDK or @types/aws-lambda); the ones from @types/aws-lambda are assignable to them.
import { deaggregate } from './deaggregate.js';
import type { DeaggregateOptions, UserRecord } from './types.js';

/** The `kinesis` part of a Lambda Kinesis event record. */
export interface KinesisStreamRecordPayload {
  /** Seconds since the epoch, with fractions. */
  approximateArrivalTimestamp: number;
  /** Base64. */
  data: string;
  kinesisSchemaVersion?: string;
  partitionKey: string;
  sequenceNumber: string;
}

/** One record of a Lambda Kinesis event. */
export interface KinesisStreamRecord {
  /** `shardId-000000000000:<sequence number>`; its shard part groups records by shard. */
  eventID?: string;
  eventSourceARN?: string;
  awsRegion?: string;
  eventName?: string;
  eventSource?: string;
  eventVersion?: string;
  invokeIdentityArn?: string;
  kinesis: KinesisStreamRecordPayload;
}

/** A Lambda Kinesis event. */
export interface KinesisStreamEvent {
  Records: KinesisStreamRecord[];
}

/** One entry of Lambda's partial batch response. */
export interface KinesisStreamBatchItemFailure {
  /** The Kinesis sequence number to retry from. */
  itemIdentifier: string;
}

/** Lambda's partial batch response (enable `ReportBatchItemFailures` on the event source mapping). */
export interface KinesisStreamBatchResponse {
  batchItemFailures: KinesisStreamBatchItemFailure[];
}

/** Options of {@link deaggregateEvent}. Lambda does not tell a function its shard's hash range. */
export type DeaggregateEventOptions = Pick<DeaggregateOptions, 'verifyChecksum' | 'strict'>;

/** Called for each user record; a rejection or throw marks it failed. */
export type UserRecordHandler = (record: UserRecord, source: KinesisStreamRecord) => void | Promise<void>;

/** Options of {@link processKinesisEvent}. */
export interface ProcessKinesisEventOptions extends DeaggregateEventOptions {
  /**
   * Told about each failure that stops a shard: the error, the user record (`undefined` when the Kinesis
   * record itself could not be de-aggregated, in `strict` mode) and its Kinesis record. For logging and
   * metrics; it should not throw.
   * @defaultValue `undefined`
   */
  onFailure?:
    | ((error: unknown, record: UserRecord | undefined, source: KinesisStreamRecord) => void)
    | undefined;
}

/**
 * Every user record of the event, in event order.
 * @throws InvalidRecordError on a record without data; in `strict` mode also ChecksumMismatchError and
 * AggregationFormatError.
 */
export function deaggregateEvent(event: KinesisStreamEvent, options?: DeaggregateEventOptions): UserRecord[] {
  const out: UserRecord[] = [];
  for (const source of event.Records) {
    for (const record of deaggregate(source.kinesis, options)) out.push(record);
  }
  return out;
}

/**
 * Runs `handler` on each user record, one at a time and in order within each shard, and returns Lambda's
 * partial batch response. At a shard's first failure its processing stops and the failure names the
 * sequence number of the Kinesis record holding the failed user record, so Lambda retries from there.
 * The user records before the failure in that same Kinesis record (aggregate) are delivered again on
 * retry: handlers must be idempotent. Other shards carry on.
 */
export async function processKinesisEvent(
  event: KinesisStreamEvent,
  handler: UserRecordHandler,
  options: ProcessKinesisEventOptions = {},
): Promise<KinesisStreamBatchResponse> {
  const { onFailure, ...deaggregateOptions } = options;
  const batchItemFailures: KinesisStreamBatchItemFailure[] = [];
  for (const records of groupByShard(event.Records)) {
    shard: for (const source of records) {
      let users: UserRecord[];
      try {
        users = deaggregate(source.kinesis, deaggregateOptions);
      } catch (error) {
        onFailure?.(error, undefined, source);
        batchItemFailures.push({ itemIdentifier: source.kinesis.sequenceNumber });
        break;
      }
      for (const user of users) {
        try {
          const pending = handler(user, source);
          // Await only what is a promise: a synchronous handler then costs no microtask per record.
          if (pending !== undefined) await pending;
        } catch (error) {
          onFailure?.(error, user, source);
          batchItemFailures.push({ itemIdentifier: source.kinesis.sequenceNumber });
          break shard;
        }
      }
    }
  }
  return { batchItemFailures };
}

/** The event's records grouped by shard (from `eventID`), groups in order of first appearance. */
function groupByShard(records: KinesisStreamRecord[]): KinesisStreamRecord[][] {
  const groups = new Map<string, KinesisStreamRecord[]>();
  for (const record of records) {
    const eventId = record.eventID ?? '';
    const colon = eventId.indexOf(':');
    const shard = colon < 0 ? (record.eventSourceARN ?? '') : eventId.slice(0, colon);
    let group = groups.get(shard);
    if (group === undefined) {
      group = [];
      groups.set(shard, group);
    }
    group.push(record);
  }
  return [...groups.values()];
}

export type { DeaggregateOptions, UserRecord } from './types.js';
