export { deaggregate, deaggregateAll, deaggregateWithStats } from './deaggregate.js';
export {
  type AggregationErrorCode,
  AggregationFormatError,
  ChecksumMismatchError,
  ConfigurationError,
  InvalidHashKeyError,
  InvalidOptionsError,
  InvalidRecordError,
  RecordTooLargeError,
  ShardlineAggregationError,
  UserRecordHandlerError,
} from './errors.js';
export { FRAMING_BYTES, isAggregated, MAGIC } from './format.js';
export {
  hashKey,
  hashKeyToDecimal,
  isInHashRange,
  isValidExplicitHashKey,
  MAX_HASH_KEY,
  parseHashKey,
  parseHashKeyRange,
  partitionKeyHash,
  partitionKeyHashWords,
} from './hashKey.js';
export {
  AGGREGATE_PARTITION_KEY,
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_RECORDS,
  MAX_PARTITION_KEY_LENGTH,
  RecordAggregator,
  utf8Length,
} from './RecordAggregator.js';
export type {
  AggregatedRecord,
  AggregationErrorKind,
  DeaggregateOptions,
  DeaggregationResult,
  HashKeyRange,
  HashKeyRangeInput,
  KinesisRecordInput,
  LambdaKinesisRecordPayload,
  OutOfRangePolicy,
  ParsedHashKeyRange,
  RecordAggregatorOptions,
  SdkHashKeyRange,
  SdkKinesisRecord,
  SdkShardHashKeyRange,
  UserRecord,
  UserRecordInput,
} from './types.js';
