/**
 * What an injected fault does to one HTTP attempt. Service errors are answered as a fake HTTP response that
 * the SDK's own deserializer turns into its typed exception (with `$metadata.httpStatusCode`, `$fault`), so
 * `instanceof ProvisionedThroughputExceededException`, `error.name` and the SDK's retry classification
 * (throttling / transient / 5xx) behave exactly as with the real service. Network faults throw the same
 * error shapes `@smithy/node-http-handler` throws.
 */
export type FaultAction =
  | ServiceErrorAction
  | { readonly kind: 'delay'; readonly ms: number }
  | { readonly kind: 'timeout'; readonly afterMs: number; readonly reachesServer: boolean }
  | { readonly kind: 'reset'; readonly reachesServer: boolean }
  | { readonly kind: 'hook'; readonly run: (call: FaultCall) => void | Promise<void> };

/** A service error answered as an HTTP response with a JSON body `{ "__type": errorType, "message": ... }`. */
export interface ServiceErrorAction {
  readonly kind: 'serviceError';
  readonly statusCode: number;
  /** The wire error type; DynamoDB's carry a namespace (`com.amazonaws.dynamodb.v20120810#...`). */
  readonly errorType: string;
  readonly message: string;
  /** Extra members of the error body (for example `Item` of a ConditionalCheckFailedException). */
  readonly body?: Readonly<Record<string, unknown>>;
}

/** One HTTP attempt as a rule sees it. */
export interface FaultCall {
  /** The operation name without `Command`, for example `PutRecords` or `UpdateItem`. */
  readonly operation: string;
  /** The command input (after any PutRecords entry faults took failed entries out). */
  readonly input: Readonly<Record<string, unknown>>;
  /** 1 for the first attempt of a `send`, 2 for the SDK's first retry, ... */
  readonly attempt: number;
}

/** Longest delay or timeout a fault may hold a request, so a mistaken plan cannot hang a test run. */
export const MAX_FAULT_DELAY_MS = 120_000;

const DYNAMODB = 'com.amazonaws.dynamodb.v20120810#';

function serviceError(
  statusCode: number,
  errorType: string,
  message: string,
  body?: Record<string, unknown>,
): ServiceErrorAction {
  return { kind: 'serviceError', statusCode, errorType, message, ...(body ? { body } : {}) };
}

/** Ready-made fault actions with the status codes, error types and messages the real services send. */
export const Faults = {
  /** Any service error. */
  serviceError,
  /**
   * A whole-request server error: 500 `InternalFailure` or 503 `ServiceUnavailable` (Kinesis). The SDK
   * classifies both as transient and retries them (up to its `maxAttempts`).
   */
  serverError(statusCode: 500 | 503 = 500): ServiceErrorAction {
    return statusCode === 503
      ? serviceError(503, 'ServiceUnavailable', 'Service Unavailable')
      : serviceError(500, 'InternalFailure', 'Internal service failure.');
  },
  /** Kinesis 400 `ProvisionedThroughputExceededException` (GetRecords, PutRecord, ...). SDK: throttling. */
  throughputExceeded(
    message = 'Rate exceeded for shard in stream under account 000000000000.',
  ): ServiceErrorAction {
    return serviceError(400, 'ProvisionedThroughputExceededException', message);
  },
  /** Kinesis 400 `ExpiredIteratorException` on GetRecords. Not retried by the SDK. */
  expiredIterator(): ServiceErrorAction {
    return serviceError(
      400,
      'ExpiredIteratorException',
      'Iterator expired. The iterator was created more than 300000 milliseconds ago.',
    );
  },
  /** Kinesis 400 `LimitExceededException` (control plane, for example ListShards over 100 TPS). */
  limitExceeded(message = 'Rate exceeded for stream under account 000000000000.'): ServiceErrorAction {
    return serviceError(400, 'LimitExceededException', message);
  },
  /** DynamoDB 500 `InternalServerError`. */
  dynamoDBServerError(): ServiceErrorAction {
    return serviceError(500, `${DYNAMODB}InternalServerError`, 'Internal server error');
  },
  /** DynamoDB 400 `ProvisionedThroughputExceededException`. SDK: throttling, retried. */
  dynamoDBThroughputExceeded(): ServiceErrorAction {
    return serviceError(
      400,
      `${DYNAMODB}ProvisionedThroughputExceededException`,
      'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.',
    );
  },
  /** DynamoDB 400 `ThrottlingException`. SDK: throttling, retried. */
  dynamoDBThrottling(): ServiceErrorAction {
    return serviceError(
      400,
      'com.amazon.coral.availability#ThrottlingException',
      'Rate of requests exceeds the allowed throughput.',
    );
  },
  /**
   * DynamoDB 400 `ConditionalCheckFailedException`, as if another writer changed the item first. `item`
   * (wire-format attribute values) is returned as the exception's `Item`, as with
   * `ReturnValuesOnConditionCheckFailure: 'ALL_OLD'`. Not retried by the SDK.
   */
  conditionalCheckFailed(item?: Record<string, unknown>): ServiceErrorAction {
    return serviceError(
      400,
      `${DYNAMODB}ConditionalCheckFailedException`,
      'The conditional request failed',
      item ? { Item: item } : undefined,
    );
  },
  /** Holds the attempt for `ms`, then lets it (and later rules) proceed. */
  delay(ms: number): FaultAction {
    return { kind: 'delay', ms };
  },
  /**
   * The attempt times out after `afterMs`: a `TimeoutError` as the Node HTTP handler throws it (transient
   * for the SDK). With `reachesServer`, the request is really sent first and only its response is lost,
   * so the write may have happened (a retry then duplicates it, as with the real service).
   */
  timeout(options: { afterMs?: number; reachesServer?: boolean } = {}): FaultAction {
    return { kind: 'timeout', afterMs: options.afterMs ?? 50, reachesServer: options.reachesServer ?? false };
  },
  /** The connection is reset (`ECONNRESET`, "socket hang up"); `reachesServer` as for {@link Faults.timeout}. */
  connectionReset(options: { reachesServer?: boolean } = {}): FaultAction {
    return { kind: 'reset', reachesServer: options.reachesServer ?? false };
  },
  /**
   * Runs `run` before the attempt goes on (to later rules and the server): for real races, for example
   * another client taking a lease right before this UpdateItem.
   */
  hook(run: (call: FaultCall) => void | Promise<void>): FaultAction {
    return { kind: 'hook', run };
  },
} as const;

/** The error `@smithy/node-http-handler` raises when a socket times out. */
export function timeoutError(afterMs: number): Error {
  return Object.assign(
    new Error(
      `@smithy/node-http-handler - the request socket timed out after ${afterMs} ms of inactivity (injected by @shardline/testkit).`,
    ),
    { name: 'TimeoutError' },
  );
}

/** The error Node's HTTP client raises on a reset connection, renamed as the SDK's handler does. */
export function resetError(): Error {
  return Object.assign(new Error('socket hang up'), { code: 'ECONNRESET', name: 'TimeoutError' });
}

/** A fake HTTP response the SDK deserializes like a real error response. */
export function errorResponse(action: ServiceErrorAction, contentType: string, requestId: string): unknown {
  const body = JSON.stringify({ ...action.body, __type: action.errorType, message: action.message });
  return {
    statusCode: action.statusCode,
    reason: undefined,
    headers: {
      'content-type': contentType,
      'x-amzn-requestid': requestId,
      'content-length': String(Buffer.byteLength(body)),
    },
    body: new Uint8Array(Buffer.from(body, 'utf8')),
  };
}
