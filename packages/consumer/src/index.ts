export type { UserRecord } from '@shardline/aggregation';
export {
  CheckpointFailedError,
  CheckpointOutOfRangeError,
  ConfigurationError,
  ConsumerError,
  type ConsumerErrorCode,
  FetchError,
  isRetriableAwsError,
  LeaseLostError,
  LeaseTableError,
  ProcessorError,
  ShardEndNotCheckpointedError,
  StreamError,
} from './errors.js';
export type { ConsumerEventName, ConsumerEvents, ConsumerListener } from './events.js';
export { KinesisConsumer, type StopOptions } from './KinesisConsumer.js';
export { DynamoDBLeaseStore, type DynamoDBLeaseStoreOptions } from './leases/DynamoDBLeaseStore.js';
export type { Lease, NewLease } from './leases/Lease.js';
export type { LeaseStore } from './leases/LeaseStore.js';
export type { Checkpointer } from './lifecycle/Checkpointer.js';
export type { MetricsSnapshot, ShardMetrics } from './metrics.js';
export type { KinesisConsumerOptions, ProcessingRetryOptions } from './options.js';
export type {
  HandlerContext,
  InitializeInput,
  LeaseLostInput,
  Processor,
  ProcessorFactory,
  ProcessRecordsInput,
  RecordHandler,
  RecordProcessor,
  ShardEndedInput,
  ShutdownRequestedInput,
} from './processor.js';
export type { ExtendedSequenceNumber, InitialPosition, Logger, ShardConsumerState } from './types.js';
