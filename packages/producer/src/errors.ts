import { isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';
import type { Attempt } from './types.js';

/** Every error code this package produces. Stable: match on `code`, not on messages. */
export type ProducerErrorCode =
  /**
   * The producer cannot work as configured: an option outside its documented range (thrown by the
   * constructor), or a client that cannot reach Kinesis at all (no credentials, no region, an endpoint that
   * does not speak the client's protocol), which fails the affected puts at once instead of at their TTL.
   * The same code as `@shardline/consumer`'s configuration errors (it was `INVALID_OPTIONS` in 0.1.0).
   */
  | 'CONFIGURATION'
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

/**
 * The producer cannot work as configured, never retriable. Thrown synchronously by the constructor for an
 * invalid option; a put rejects with it when the client cannot reach Kinesis as configured (`cause`: the
 * SDK's error, `problem`: what was found).
 */
export class ConfigurationError extends ProducerError {
  /**
   * What was wrong with a client that could not reach Kinesis: `CredentialsProviderError`, `MissingRegion`,
   * `ProtocolMismatch`, `InvalidEndpoint`; `undefined` for an invalid option.
   */
  readonly problem: string | undefined;

  constructor(
    message: string,
    options: { problem?: string; cause?: unknown; attempts?: readonly Attempt[] } = {},
  ) {
    super('CONFIGURATION', message, { retriable: false, cause: options.cause, attempts: options.attempts });
    this.problem = options.problem;
  }
}

/**
 * The former name of {@link ConfigurationError}, kept so code written against it keeps compiling.
 * @deprecated Use `ConfigurationError`; its code is `CONFIGURATION`.
 */
export const InvalidOptionsError = ConfigurationError;
/** @deprecated Use `ConfigurationError`. */
export type InvalidOptionsError = ConfigurationError;

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

// Error codes Kinesis (or the SDK, or the network) reports that are worth trying again, besides what the
// SDK's own classification (`@smithy/core/retry`) counts as throttling, transient or a server error. Everything
// else (AccessDenied, ResourceNotFound, KMS key state, InvalidArgument, validation) fails the records at once.
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
  // Ours, not Kinesis's: see MismatchedResponseError.
  'MismatchedResponse',
]);

const TRANSPORT_CODE_PREFIXES = ['ERR_HTTP2_', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_'];

/**
 * A PutRecords answer whose result count does not match the request's entries: it cannot be mapped back to
 * records, so the call counts as failed and is retried (the code is in the retriable set above). Internal:
 * records that exhaust their retries on it carry `SERVICE_ERROR` with `serviceCode` `MismatchedResponse`.
 */
export class MismatchedResponseError extends Error {
  override readonly name = 'MismatchedResponseError';
  readonly code = 'MismatchedResponse';
}

/** What the producer needs to know about a failure: a code for metrics, whether to retry, and why. */
export interface ClassifiedError {
  code: string;
  message: string;
  retriable: boolean;
  /**
   * The client cannot reach Kinesis as configured (no credentials, no region, a protocol mismatch): no retry
   * can fix it, so the records it concerns fail at once with `ConfigurationError`.
   */
  configuration?: boolean | undefined;
  /** The error as thrown, kept as the `cause` of the record's rejection. */
  cause?: unknown;
}

/** Where the classified error was met. */
export interface ClassifyContext {
  /**
   * Nothing this producer sent has been answered yet. An HTTP/2 protocol error then means the endpoint does
   * not speak HTTP/2 (the Kinesis client's default handler against an HTTP/1.1 endpoint); after answers it is
   * a transport failure like a reset, worth retrying.
   */
  firstContact?: boolean | undefined;
}

type ErrorShape = {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  cause?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  $retryable?: unknown;
};

/**
 * The one classifier of this package, for every error thrown by `client.send` (SDK service exception, HTTP
 * error, network error, configuration problem): by the SDK's own classification (`@smithy/core/retry`, as
 * `@shardline/consumer`), the codes above, and the configuration problems no retry can fix.
 */
export function classifyError(error: unknown, context: ClassifyContext = {}): ClassifiedError {
  const e = (typeof error === 'object' && error !== null ? error : {}) as ErrorShape;
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  const networkCode = typeof e.code === 'string' ? e.code : undefined;
  const name = typeof e.name === 'string' && e.name !== 'Error' ? e.name : undefined;
  const message = typeof e.message === 'string' ? e.message : String(error);
  const problem = configurationProblem(name, networkCode, message, context);
  if (problem !== undefined) {
    return {
      code: problem.code,
      message: problem.message,
      retriable: false,
      configuration: true,
      cause: error,
    };
  }
  const code = networkCode ?? name ?? (status === undefined ? 'UnknownError' : `Http${status}`);
  const sdk = e as Parameters<typeof isTransientError>[0];
  const retriable =
    RETRIABLE_CODES.has(code) ||
    // Transport failures below HTTP (an HTTP/2 stream reset or protocol error, a stream closed early):
    // the request may or may not have landed, exactly like a timeout, so retrying is right.
    (networkCode !== undefined && TRANSPORT_CODE_PREFIXES.some((prefix) => networkCode.startsWith(prefix))) ||
    (name !== undefined && RETRIABLE_CODES.has(name)) ||
    (status !== undefined && (status >= 500 || status === 429)) ||
    e.$retryable !== undefined ||
    (typeof error === 'object' &&
      error !== null &&
      (isThrottlingError(sdk) || isTransientError(sdk) || isServerError(sdk))) ||
    // A server fault without a known code is transient more often than not; a client fault is not.
    (e.$fault === 'server' && status === undefined);
  return { code, message, retriable, cause: error };
}

/** A configuration problem no retry can fix, named and explained; `undefined` for anything else. */
function configurationProblem(
  name: string | undefined,
  networkCode: string | undefined,
  message: string,
  context: ClassifyContext,
): { code: string; message: string } | undefined {
  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(message)) {
    return {
      code: 'CredentialsProviderError',
      message: `the Kinesis client has no credentials: ${message}`,
    };
  }
  if (/region is missing/i.test(message)) {
    return { code: 'MissingRegion', message: `the Kinesis client has no region: ${message}` };
  }
  if (networkCode === 'ERR_INVALID_URL') {
    return { code: 'InvalidEndpoint', message: `the Kinesis client's endpoint is not a URL: ${message}` };
  }
  if (context.firstContact === true && networkCode === 'ERR_HTTP2_ERROR') {
    return {
      code: 'ProtocolMismatch',
      message: `the endpoint does not speak HTTP/2, the Kinesis client's default (${message}); for an HTTP/1.1 endpoint pass requestHandler: new NodeHttpHandler() from @smithy/node-http-handler`,
    };
  }
  return undefined;
}

/** Whether a per-entry `ErrorCode` of a PutRecords answer is worth retrying. */
export function isRetriableEntryCode(code: string): boolean {
  return RETRIABLE_CODES.has(code);
}

/** `message` followed by what the last error said (the reason a record failed, in its own message). */
export function withLastError(message: string, last: ClassifiedError | undefined): string {
  return last === undefined ? message : `${message}; last error ${last.code}: ${last.message}`;
}
