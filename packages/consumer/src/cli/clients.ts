import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/**
 * The CLI's HTTP timeouts. With `@smithy/node-http-handler` 4.x, `requestTimeout` alone only logs a warning:
 * `throwOnRequestTimeout` fails a request whose response has not begun, `socketTimeout` one that stalls.
 */
export const CLI_HTTP_TIMEOUTS = {
  connectionTimeout: 5_000,
  requestTimeout: 30_000,
  throwOnRequestTimeout: true,
  socketTimeout: 30_000,
} as const;

/** Plain HTTP/1.1 with {@link CLI_HTTP_TIMEOUTS}. */
function httpHandler(): NodeHttpHandler {
  return new NodeHttpHandler(CLI_HTTP_TIMEOUTS);
}

/**
 * A Kinesis client; with `endpoint` (a local stack) over HTTP/1.1, since the SDK's default Kinesis handler is
 * HTTP/2, whose session fails on larger GetRecords answers from kinesis-local.
 */
export function kinesisClient(region: string | undefined, endpoint: string | undefined): KinesisClient {
  return new KinesisClient({
    ...(region ? { region } : {}),
    ...(endpoint ? { endpoint, requestHandler: httpHandler() } : {}),
  });
}

/** A DynamoDB client over HTTP/1.1 (the SDK's default for DynamoDB too) with the CLI's timeouts. */
export function dynamoDBClient(region: string | undefined, endpoint: string | undefined): DynamoDBClient {
  return new DynamoDBClient({
    ...(region ? { region } : {}),
    ...(endpoint ? { endpoint } : {}),
    requestHandler: httpHandler(),
  });
}

/** An error as the CLI prints it: name and message only, never the request (which may carry credentials). */
export function describeError(error: unknown): string {
  const e = error as { name?: string; message?: string; code?: unknown };
  // Our typed errors (ConsumerError and subclasses, with a string `code`) already name the AWS error.
  if (error instanceof Error && typeof e.code === 'string' && e.code === e.code.toUpperCase()) {
    return e.message ?? String(error);
  }
  return `${e.name ?? 'Error'}: ${e.message ?? String(error)}`;
}
