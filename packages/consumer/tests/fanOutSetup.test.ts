import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { describe, expect, it } from 'vitest';
import {
  ConfigurationError,
  isRetriableAwsError,
  type KinesisConsumerOptions,
  StreamError,
} from '../src/index.js';
import { resolveOptions } from '../src/options.js';
import { StreamConsumerRegistration } from '../src/retrieval/StreamConsumerRegistration.js';
import { awsError } from './fixtures/fakeFanOut.js';

const STREAM_ARN = 'arn:aws:kinesis:us-east-1:123456789012:stream/orders';
const CONSUMER_ARN = `${STREAM_ARN}/consumer/app:1700000000`;

/**
 * DescribeStreamSummary, DescribeStreamConsumer and RegisterStreamConsumer as AWS answers them: a consumer
 * is CREATING for `creatingDescribes` describes after registration, then ACTIVE; at most `maxCreating`
 * consumers may be CREATING (LimitExceeded beyond). Shared by every client made from it.
 */
function consumerRegistry(options: { creatingDescribes?: number; maxCreating?: number } = {}) {
  const consumers = new Map<string, { describes: number }>();
  const calls = { register: 0, registered: 0, limitExceeded: 0, describe: 0 };
  let otherCreating = 0;
  const status = (name: string): string => {
    const c = consumers.get(name);
    if (!c) return 'NONE';
    return c.describes >= (options.creatingDescribes ?? 2) ? 'ACTIVE' : 'CREATING';
  };
  const send = async (command: { constructor: { name: string }; input: Record<string, string> }) => {
    await new Promise((r) => setTimeout(r, Math.random() * 5)); // interleave concurrent workers
    switch (command.constructor.name) {
      case 'DescribeStreamSummaryCommand':
        return { StreamDescriptionSummary: { StreamARN: STREAM_ARN } };
      case 'DescribeStreamConsumerCommand': {
        calls.describe++;
        const name = command.input.ConsumerName ?? '';
        const c = consumers.get(name);
        if (!c) throw awsError('ResourceNotFoundException');
        const s = status(name);
        c.describes++;
        return { ConsumerDescription: { ConsumerName: name, ConsumerARN: CONSUMER_ARN, ConsumerStatus: s } };
      }
      case 'RegisterStreamConsumerCommand': {
        calls.register++;
        const name = command.input.ConsumerName ?? '';
        if (consumers.has(name)) throw awsError('ResourceInUseException');
        if (otherCreating >= (options.maxCreating ?? 5)) {
          calls.limitExceeded++;
          otherCreating--; // one of the others becomes ACTIVE meanwhile
          throw awsError('LimitExceededException');
        }
        consumers.set(name, { describes: 0 });
        calls.registered++;
        return { Consumer: { ConsumerName: name, ConsumerARN: CONSUMER_ARN, ConsumerStatus: 'CREATING' } };
      }
    }
    throw new Error(`unexpected ${command.constructor.name}`);
  };
  return {
    client: { send } as unknown as KinesisClient,
    calls,
    fillCreating: (n: number) => {
      otherCreating = n;
    },
  };
}

function registration(client: KinesisClient, overrides: { timeoutMs?: number; signal?: AbortSignal } = {}) {
  return new StreamConsumerRegistration({
    kinesis: client,
    stream: { StreamName: 'orders' },
    consumerName: 'app',
    timeoutMs: overrides.timeoutMs ?? 10_000,
    describeIntervalMs: 20,
    backoffBaseMs: 5,
    backoffMaxMs: 50,
    signal: overrides.signal,
  });
}

describe('stream consumer registration', () => {
  it('25 workers starting at once against an unregistered name: one registration, all get the ACTIVE ARN', async () => {
    const registry = consumerRegistry({ creatingDescribes: 10 });
    const arns = await Promise.all(
      Array.from({ length: 25 }, () => registration(registry.client).activeConsumerArn()),
    );
    expect(new Set(arns)).toEqual(new Set([CONSUMER_ARN]));
    expect(registry.calls.registered).toBe(1);
  });

  it('retries LimitExceeded (5 consumers CREATING on the stream) until it can register', async () => {
    const registry = consumerRegistry({ maxCreating: 5 });
    registry.fillCreating(6);
    const arn = await registration(registry.client).activeConsumerArn();
    expect(arn).toBe(CONSUMER_ARN);
    expect(registry.calls.limitExceeded).toBeGreaterThanOrEqual(1);
    expect(registry.calls.registered).toBe(1);
  });

  it('fails at once, not retriable, on a permission error; retriable once the wait is over', async () => {
    const denied = {
      send: async () => {
        throw awsError('AccessDeniedException');
      },
    } as unknown as KinesisClient;
    const error = await registration(denied)
      .activeConsumerArn()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StreamError);
    expect(error).toMatchObject({ code: 'STREAM', retriable: false, awsErrorName: 'AccessDeniedException' });

    const slow = consumerRegistry({ creatingDescribes: 1_000_000 });
    const late = await registration(slow.client, { timeoutMs: 1_000 })
      .activeConsumerArn()
      .catch((e: unknown) => e);
    expect(late).toMatchObject({ code: 'STREAM', retriable: true });
    expect(String(late)).toContain('not ACTIVE within 1000 ms');
  });

  it('stops waiting when the consumer stops', async () => {
    const slow = consumerRegistry({ creatingDescribes: 1_000_000 });
    const abort = new AbortController();
    const pending = registration(slow.client, { signal: abort.signal }).activeConsumerArn();
    setTimeout(() => abort.abort(), 100);
    await expect(pending).rejects.toMatchObject({ code: 'STREAM', retriable: true });
  });
});

describe('retrieval options', () => {
  const base = {
    dynamoDBClient: { send: async () => ({}) },
    streamName: 's',
    applicationName: 'app-table',
    processor: async () => {},
  } as unknown as KinesisConsumerOptions;
  const fake = { send: async () => ({}) } as unknown as KinesisClient;

  it('defaults to polling; fan-out takes a consumer name or ARN, never both or neither', () => {
    expect(resolveOptions({ ...base, kinesisClient: fake }).retrieval).toEqual({ mode: 'polling' });
    expect(
      resolveOptions({ ...base, kinesisClient: fake, retrieval: { mode: 'fan-out', consumerName: 'app' } })
        .retrieval,
    ).toEqual({
      mode: 'fan-out',
      consumer: { consumerName: 'app' },
      registrationTimeoutMs: 300_000,
      readTimeoutMs: 30_000,
    });
    const bad: unknown[] = [
      { mode: 'fan-out' },
      { mode: 'fan-out', consumerName: 'app', consumerArn: CONSUMER_ARN },
      { mode: 'fan-out', consumerName: 'no spaces' },
      { mode: 'fan-out', consumerArn: 'arn:aws:kinesis:us-east-1:1:stream/s' },
      { mode: 'fan-out', consumerName: 'app', readTimeoutMs: 10 },
      { mode: 'fan-out', consumerName: 'app', registrationTimeoutMs: 1.5 },
      { mode: 'efo' },
      'fan-out',
    ];
    for (const retrieval of bad) {
      expect(() =>
        resolveOptions({ ...base, kinesisClient: fake, retrieval } as KinesisConsumerOptions),
      ).toThrow(ConfigurationError);
    }
    expect(
      resolveOptions({
        ...base,
        kinesisClient: fake,
        retrieval: { mode: 'fan-out', consumerArn: CONSUMER_ARN },
      }).retrieval,
    ).toMatchObject({ consumer: { consumerArn: CONSUMER_ARN } });
  });

  it('refuses fan-out on a Kinesis client built with an HTTP/1.1 handler, accepts the default HTTP/2 one', () => {
    const http1 = new KinesisClient({ region: 'us-east-1', requestHandler: new NodeHttpHandler() });
    const http2 = new KinesisClient({ region: 'us-east-1' });
    try {
      const retrieval = { mode: 'fan-out', consumerName: 'app' } as const;
      expect(() => resolveOptions({ ...base, kinesisClient: http1, retrieval })).toThrow(
        /HTTP\/2.*http\/1\.1/,
      );
      expect(resolveOptions({ ...base, kinesisClient: http2, retrieval }).retrieval.mode).toBe('fan-out');
      // Polling works with either.
      expect(resolveOptions({ ...base, kinesisClient: http1 }).retrieval.mode).toBe('polling');
    } finally {
      http1.destroy();
      http2.destroy();
    }
  });

  it('classifies what a subscription meets: busy and transport errors retriable, permissions and KMS not', () => {
    const transport = (code: string) => Object.assign(new Error(code), { code });
    expect(isRetriableAwsError(awsError('ResourceInUseException'))).toBe(true);
    expect(isRetriableAwsError(awsError('InternalFailureException', 'server'))).toBe(true);
    expect(isRetriableAwsError(awsError('LimitExceededException'))).toBe(true);
    expect(isRetriableAwsError(awsError('KMSThrottlingException'))).toBe(true);
    expect(isRetriableAwsError(transport('ERR_HTTP2_STREAM_ERROR'))).toBe(true);
    expect(isRetriableAwsError(transport('ERR_HTTP2_SESSION_ERROR'))).toBe(true);
    expect(isRetriableAwsError(transport('ECONNRESET'))).toBe(true);
    expect(isRetriableAwsError(awsError('ResourceNotFoundException'))).toBe(false);
    expect(isRetriableAwsError(awsError('KMSAccessDeniedException'))).toBe(false);
    expect(isRetriableAwsError(awsError('KMSDisabledException'))).toBe(false);
    expect(isRetriableAwsError(awsError('AccessDeniedException'))).toBe(false);
  });
});
