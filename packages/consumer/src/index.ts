export type { UserRecord } from '@shardline/aggregation';
export {
  CheckpointFailedError,
  CheckpointOutOfRangeError,
  ConfigurationError,
  ConsumerError,
  type ConsumerErrorCode,
  DeadLetterFailedError,
  FetchError,
  isRetriableAwsError,
  LeaseLostError,
  LeaseTableError,
  ProcessorError,
  RecordFailedError,
  ShardEndNotCheckpointedError,
  StreamError,
} from './errors.js';
export type { ConsumerEventName, ConsumerEvents, ConsumerListener, FailingRecordRef } from './events.js';
export { KinesisConsumer, type StopOptions } from './KinesisConsumer.js';
export { DynamoDBLeaseStore, type DynamoDBLeaseStoreOptions } from './leases/DynamoDBLeaseStore.js';
export type { Lease, NewLease } from './leases/Lease.js';
export type { LeaseStore } from './leases/LeaseStore.js';
export {
  type LeaseKey,
  leaseKeyOf,
  parseStreamIdentity,
  type StreamIdentity,
  type StreamShard,
  serializeStreamIdentity,
  shardOf,
} from './leases/leaseKeys.js';
export type { ShardConsumerState } from './lifecycle/ConsumerStates.js';
export type { FailingRecord, MetricsSnapshot, ShardMetrics } from './metrics.js';
export type { KinesisConsumerOptions, ProcessingFailurePolicy, ProcessingRetryOptions } from './options.js';
export type {
  Checkpointer,
  DeadLetterContext,
  DeadLetterHandler,
  HandlerContext,
  InitializeInput,
  LeaseLostInput,
  Processor,
  ProcessorFactory,
  ProcessRecordsInput,
  RecordHandler,
  RecordProcessor,
  ShardContext,
  ShardEndedInput,
  ShutdownRequestedInput,
} from './processor.js';
export type {
  FanOutRetrievalOptions,
  PollingRetrievalOptions,
  RetrievalOptions,
} from './retrieval/RetrievalOptions.js';
export type { StreamList, StreamListSource, StreamSpec } from './streams/StreamTracker.js';
export type { ExtendedSequenceNumber, InitialPosition, Logger } from './types.js';
