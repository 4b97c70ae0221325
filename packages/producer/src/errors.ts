import type { Attempt } from './types.js';

/** Every error code this package produces. Stable: match on `code`, not on messages. */
export type ProducerErrorCode =
  /** An option outside its documented range (thrown by the constructor). */
  | 'INVALID_OPTIONS'
  /** The record itself is malformed: partition key, size, explicit hash key or data type. */
  | 'INVALID_RECORD'
  /** The record was not accepted by Kinesis within `recordTtlMs`. */
  | 'EXPIRED'
  /** `put` after `close()`. */
  | 'PRODUCER_CLOSED'
  /** `put` while `maxBufferedBytes` or `maxBufferedRecords` is reached; wait with `waitForCapacity()`. */
  | 'BUFFER_FULL'
  /** Kinesis (or the network) answered with an error that is not retried; see `serviceCode`. */
  | 'SERVICE_ERROR';

/** Base class of every error this package produces. */
export class ProducerError extends Error {
  /** Machine-readable reason. */
  readonly code: ProducerErrorCode;
  /** Whether putting the same record again later can succeed. */
  readonly retriable: boolean;
  /** Every attempt made to send the record, oldest first (empty when it was never sent). */
  readonly attempts: readonly Attempt[];

  constructor(
    code: ProducerErrorCode,
    message: string,
    options: { retriable: boolean; cause?: unknown; attempts?: readonly Attempt[] },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable;
    this.attempts = options.attempts ?? [];
  }
}

/** Invalid producer options. Thrown synchronously by the constructor, never retriable. */
export class ConfigurationError extends ProducerError {
  constructor(message: string) {
    super('INVALID_OPTIONS', message, { retriable: false });
  }
}

/** A malformed record, rejected by `put` at once without touching anything else. */
export class ValidationError extends ProducerError {
  constructor(message: string, cause?: unknown) {
    super('INVALID_RECORD', message, { retriable: false, cause });
  }
}

/** The record could not be written within `recordTtlMs`; `cause` is the last error met, if any. */
export class ExpiredError extends ProducerError {
  constructor(message: string, attempts: readonly Attempt[], cause?: unknown) {
    super('EXPIRED', message, { retriable: true, attempts, cause });
  }
}

/** `put` after `close()`. */
export class ProducerClosedError extends ProducerError {
  constructor() {
    super('PRODUCER_CLOSED', 'the producer is closed', { retriable: false });
  }
}

/** The buffer is full. Nothing was buffered; wait with `waitForCapacity()` and put again. */
export class BufferFullError extends ProducerError {
  constructor(message: string) {
    super('BUFFER_FULL', message, { retriable: true });
  }
}

/**
 * A non-retriable answer from Kinesis (access denied, stream not found, KMS key problems, invalid
 * argument) or a retriable one met when the record could no longer be retried.
 */
export class ServiceError extends ProducerError {
  /** The service's error code (`AccessDeniedException`, `ResourceNotFoundException`, ...). */
  readonly serviceCode: string;

  constructor(
    serviceCode: string,
    message: string,
    options: { retriable: boolean; cause?: unknown; attempts?: readonly Attempt[] },
  ) {
    super('SERVICE_ERROR', `${serviceCode}: ${message}`, options);
    this.serviceCode = serviceCode;
  }
}

// Error codes Kinesis (or the SDK, or the network) reports that are worth trying again. Everything else
// (AccessDenied, ResourceNotFound, KMS key state, InvalidArgument, validation) fails the records at once.
const RETRIABLE_CODES = new Set([
  'ProvisionedThroughputExceededException',
  'InternalFailure',
  'InternalServerError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'LimitExceededException',
  'KMSThrottlingException',
  'ThrottlingException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'AbortError',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
]);

const TRANSPORT_CODE_PREFIXES = ['ERR_HTTP2_', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_'];

/** What the producer needs to know about a failure: a code for metrics and whether to retry. */
export interface ClassifiedError {
  code: string;
  message: string;
  retriable: boolean;
}

/** Classifies an error thrown by `client.send` (SDK service exception, HTTP error, network error). */
export function classifyError(error: unknown): ClassifiedError {
  const e = (typeof error === 'object' && error !== null ? error : {}) as {
    name?: unknown;
    code?: unknown;
    message?: unknown;
    $fault?: unknown;
    $metadata?: { httpStatusCode?: unknown };
    $retryable?: unknown;
  };
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  const networkCode = typeof e.code === 'string' ? e.code : undefined;
  const name = typeof e.name === 'string' && e.name !== 'Error' ? e.name : undefined;
  const code = networkCode ?? name ?? (status === undefined ? 'UnknownError' : `Http${status}`);
  const message = typeof e.message === 'string' ? e.message : String(error);
  const retriable =
    RETRIABLE_CODES.has(code) ||
    // Transport failures below HTTP (an HTTP/2 stream reset or protocol error, a stream closed early):
    // the request may or may not have landed, exactly like a timeout, so retrying is right.
    (networkCode !== undefined && TRANSPORT_CODE_PREFIXES.some((prefix) => networkCode.startsWith(prefix))) ||
    (name !== undefined && RETRIABLE_CODES.has(name)) ||
    (status !== undefined && (status >= 500 || status === 429)) ||
    e.$retryable !== undefined ||
    // A server fault without a known code is transient more often than not; a client fault is not.
    (e.$fault === 'server' && status === undefined);
  return { code, message, retriable };
}

/** Whether a per-entry `ErrorCode` of a PutRecords answer is worth retrying. */
export function isRetriableEntryCode(code: string): boolean {
  return RETRIABLE_CODES.has(code);
}
