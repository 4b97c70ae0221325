export {
  BufferFullError,
  ConfigurationError,
  ExpiredError,
  InvalidOptionsError,
  ProducerClosedError,
  ProducerError,
  type ProducerErrorCode,
  ServiceError,
  ValidationError,
} from './errors.js';
export type { ProducerEvents } from './events.js';
export { KinesisProducer } from './KinesisProducer.js';
export type { ProducerMetrics, Stat } from './metrics.js';
export type { ProducerOptions } from './options.js';
export { type BackoffPolicy, fullJitterDelay } from './retry.js';
export type { PutManyResult, PutOutcomeCallback } from './settlement/RecordBatch.js';
export type { Attempt, FlushResult, ProducerLogger, ProducerRecord, PutResult, ShardRange } from './types.js';
export type { ProducerWritableOptions } from './writable.js';
