import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient, type KinesisClientConfig } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler, type NodeHttpHandlerOptions } from '@smithy/node-http-handler';

/** Where a running local stack listens. Plain data, so vitest can hand it from globalSetup to tests. */
export interface LocalStackEndpoints {
  kinesisEndpoint: string;
  dynamoDBEndpoint: string;
  region: string;
}

/** Dummy credentials: the emulators accept any, and no real secret ever appears in tests. */
export const LOCAL_CREDENTIALS = {
  accessKeyId: 'AKIDSHARDLINELOCAL',
  secretAccessKey: 'shardline-local-secret',
} as const;

export interface LocalStackClients {
  readonly kinesis: KinesisClient;
  readonly dynamoDB: DynamoDBClient;
  /** Makes another Kinesis client for this stack (for example with fault-injecting middleware). */
  createKinesisClient(): KinesisClient;
  /** Makes another DynamoDB client for this stack. */
  createDynamoDBClient(): DynamoDBClient;
  /** Destroys the clients this object made. */
  destroy(): void;
}

/**
 * The HTTP timeouts of every client the testkit makes, so that a request the emulator never answers fails
 * (as a transient `TimeoutError`, which the SDK and our retries handle) instead of hanging a test. With
 * `@smithy/node-http-handler` 4.x, `requestTimeout` alone only logs a warning: `throwOnRequestTimeout` makes
 * it fail a request whose response has not begun, and `socketTimeout` fails one whose response stalls.
 */
export const LOCAL_HTTP_TIMEOUTS = {
  connectionTimeout: 5_000,
  requestTimeout: 30_000,
  throwOnRequestTimeout: true,
  socketTimeout: 30_000,
} as const satisfies NodeHttpHandlerOptions;

/** A plain HTTP/1.1 handler with {@link LOCAL_HTTP_TIMEOUTS}, any of them overridden by `options`. */
export function localRequestHandler(options: NodeHttpHandlerOptions = {}): NodeHttpHandler {
  return new NodeHttpHandler({ ...LOCAL_HTTP_TIMEOUTS, ...options });
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * A KinesisClient with the SDK's default request handler: `NodeHttp2Handler` (HTTP/2 with prior knowledge
 * on an `http://` endpoint), as production clients have and as SubscribeToShard needs; dummy credentials.
 * For the Kinesis simulator, which serves HTTP/2 (kinesis-local's larger responses fail over HTTP/2).
 * Throws a `CONFIGURATION` error for an endpoint that is not on loopback: tests never leave the machine.
 */
export function createHttp2KinesisClient(
  config: Partial<KinesisClientConfig> & { endpoint: string; region: string },
): KinesisClient {
  const host = new URL(config.endpoint).hostname;
  if (!LOOPBACK_HOSTS.has(host)) {
    throw Object.assign(
      new Error(`createHttp2KinesisClient: ${config.endpoint} is not a loopback endpoint`),
      {
        code: 'CONFIGURATION',
        retriable: false,
      },
    );
  }
  return new KinesisClient({ credentials: LOCAL_CREDENTIALS, ...config });
}

/**
 * Builds SDK v3 clients for a local stack. The Kinesis client uses plain HTTP/1.1 (`NodeHttpHandler`):
 * the SDK's default HTTP/2 handler fails on kinesis-local's larger responses. Both clients use
 * {@link LOCAL_HTTP_TIMEOUTS}.
 */
export function connectLocalStack(endpoints: LocalStackEndpoints): LocalStackClients {
  const made: Array<{ destroy(): void }> = [];
  const createKinesisClient = (): KinesisClient => {
    const client = new KinesisClient({
      endpoint: endpoints.kinesisEndpoint,
      region: endpoints.region,
      credentials: LOCAL_CREDENTIALS,
      requestHandler: localRequestHandler(),
    });
    made.push(client);
    return client;
  };
  const createDynamoDBClient = (): DynamoDBClient => {
    const client = new DynamoDBClient({
      endpoint: endpoints.dynamoDBEndpoint,
      region: endpoints.region,
      credentials: LOCAL_CREDENTIALS,
      requestHandler: localRequestHandler(),
    });
    made.push(client);
    return client;
  };
  const kinesis = createKinesisClient();
  const dynamoDB = createDynamoDBClient();
  return {
    kinesis,
    dynamoDB,
    createKinesisClient,
    createDynamoDBClient,
    destroy() {
      for (const client of made.splice(0)) client.destroy();
    },
  };
}

/**
 * Environment for a child process that should reach this stack through the standard SDK chain (region,
 * dummy credentials), as a deployed service would: pass it to `spawn`, plus the endpoints the program reads.
 */
export function localStackProcessEnv(endpoints: LocalStackEndpoints): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    AWS_REGION: endpoints.region,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}
