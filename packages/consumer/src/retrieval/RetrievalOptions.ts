import { ConfigurationError } from '../errors.js';
import { describe, int } from '../validate.js';

/**
 * How records are read. `'polling'` (the default) calls GetRecords; `'fan-out'` subscribes to each shard
 * (SubscribeToShard, HTTP/2) through a registered stream consumer, named or given by ARN.
 */
export type RetrievalOptions = PollingRetrievalOptions | FanOutRetrievalOptions;

/** GetRecords polling. Its settings are the top-level `maxRecords` and `idleTimeBetweenReadsMs`. */
export interface PollingRetrievalOptions {
  mode: 'polling';
}

/** Enhanced fan-out: give exactly one of `consumerName` and `consumerArn`. */
export interface FanOutRetrievalOptions {
  mode: 'fan-out';
  /**
   * The stream consumer to read through, by name (1-128 characters of a-z, A-Z, 0-9, _ . -). Registered
   * (RegisterStreamConsumer) if the stream has none of that name; `start()` resolves once it is ACTIVE. Every
   * worker of one application uses the same name. Never deregistered by Shardline.
   */
  consumerName?: string | undefined;
  /** The stream consumer to read through, by ARN, used as is (nothing is registered or described). */
  consumerArn?: string | undefined;
  /**
   * How long `start()` waits for a named consumer to become ACTIVE (registration included) before it
   * rejects with a retriable `StreamError`. Unit ms, range 1,000..3,600,000. @defaultValue `300_000`
   */
  registrationTimeoutMs?: number | undefined;
  /**
   * A subscription on which nothing arrives for this long while the processor is waiting for records is
   * abandoned and replaced (AWS sends an event at least every 5 s, also when the shard is idle). Time spent
   * with a full prefetch queue (a slow processor) does not count. Unit ms, range 1,000..600,000.
   * @defaultValue `30_000`
   */
  readTimeoutMs?: number | undefined;
}

/** Retrieval options after defaults and validation. */
export type ResolvedRetrieval =
  | { mode: 'polling' }
  | {
      mode: 'fan-out';
      consumer: { consumerName: string } | { consumerArn: string };
      registrationTimeoutMs: number;
      readTimeoutMs: number;
    };

const CONSUMER_NAME = /^[a-zA-Z0-9_.-]{1,128}$/;
const CONSUMER_ARN =
  /^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:\d{12}:stream\/[a-zA-Z0-9_.-]+\/consumer\/[a-zA-Z0-9_.-]+:\d+$/;

/**
 * Validates `retrieval`. Fan-out needs an HTTP/2 request handler on the Kinesis client: the SDK's default
 * (`NodeHttp2Handler`) is one; a client built with `NodeHttpHandler` (HTTP/1.1, as is usual for local
 * emulators) is refused here rather than failing on every subscription later. A handler that does not say
 * which protocol it speaks is accepted (see the README).
 */
export function resolveRetrieval(value: unknown, kinesisClient: unknown): ResolvedRetrieval {
  if (value === undefined) return { mode: 'polling' };
  if (typeof value !== 'object' || value === null || !('mode' in value)) {
    throw new ConfigurationError(
      "retrieval must be { mode: 'polling' } or { mode: 'fan-out', consumerName }",
    );
  }
  const options = value as Omit<Partial<FanOutRetrievalOptions>, 'mode'> & { mode: unknown };
  if (options.mode === 'polling') return { mode: 'polling' };
  if (options.mode !== 'fan-out') {
    throw new ConfigurationError(
      `retrieval.mode must be 'polling' or 'fan-out' (got ${describe(options.mode)})`,
    );
  }
  const { consumerName, consumerArn } = options;
  if ((consumerName === undefined) === (consumerArn === undefined)) {
    throw new ConfigurationError('retrieval: give exactly one of consumerName and consumerArn for fan-out');
  }
  if (consumerName !== undefined && (typeof consumerName !== 'string' || !CONSUMER_NAME.test(consumerName))) {
    throw new ConfigurationError('retrieval.consumerName must be 1-128 characters of a-z, A-Z, 0-9, _ . -');
  }
  if (consumerArn !== undefined && (typeof consumerArn !== 'string' || !CONSUMER_ARN.test(consumerArn))) {
    throw new ConfigurationError(
      'retrieval.consumerArn must be a stream consumer ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME/consumer/NAME:EPOCH)',
    );
  }
  const protocol = handlerProtocol(kinesisClient);
  if (protocol !== undefined && protocol !== 'h2') {
    throw new ConfigurationError(
      `retrieval 'fan-out' needs a Kinesis client with an HTTP/2 request handler (SubscribeToShard is HTTP/2 only); this client's handler speaks ${protocol}. Leave requestHandler at the SDK default (NodeHttp2Handler) or pass a NodeHttp2Handler`,
    );
  }
  return {
    mode: 'fan-out',
    consumer: consumerName !== undefined ? { consumerName } : { consumerArn: consumerArn as string },
    registrationTimeoutMs: int(
      'retrieval.registrationTimeoutMs',
      options.registrationTimeoutMs,
      300_000,
      1_000,
      3_600_000,
    ),
    readTimeoutMs: int('retrieval.readTimeoutMs', options.readTimeoutMs, 30_000, 1_000, 600_000),
  };
}

/** The protocol an SDK v3 client's request handler declares (`metadata.handlerProtocol`), if it does. */
function handlerProtocol(client: unknown): string | undefined {
  const handler = (client as { config?: { requestHandler?: { metadata?: { handlerProtocol?: unknown } } } })
    ?.config?.requestHandler;
  const protocol = handler?.metadata?.handlerProtocol;
  return typeof protocol === 'string' ? protocol : undefined;
}
