// A new user's first mistakes, against a real SDK client over HTTP on loopback: each put must fail with an
// error that says why (code, cause, message), and a configuration problem must not wait out the TTL.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KinesisClient, type KinesisClientConfig } from '@aws-sdk/client-kinesis';
import {
  Faults,
  freeLoopbackPort,
  injectKinesisFaults,
  type KinesisSimulator,
  LOCAL_CREDENTIALS,
  localRequestHandler,
  startKinesisSimulator,
} from '@shardline/testkit';
import { NodeHttp2Handler } from '@smithy/node-http-handler';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  ConfigurationError,
  ExpiredError,
  InvalidOptionsError,
  KinesisProducer,
  type ProducerError,
  type ProducerEvents,
  type ProducerOptions,
} from '../src/index.js';

const STREAM = 'errors';
// Far longer than any test here may take: a put that rejects at all did not wait for it.
const LONG_TTL_MS = 600_000;

let sim: KinesisSimulator;
const clients: KinesisClient[] = [];
const producers: KinesisProducer[] = [];

let http1Only: Server;
let http1Endpoint: string;

beforeAll(async () => {
  sim = await startKinesisSimulator({ streams: [{ streamName: STREAM, shardCount: 2 }] });
  http1Only = createServer((_request, response) => response.writeHead(404).end());
  await new Promise<void>((resolve) => http1Only.listen(0, '127.0.0.1', resolve));
  http1Endpoint = `http://127.0.0.1:${(http1Only.address() as AddressInfo).port}`;
});
afterEach(async () => {
  // Records still pending would keep close() waiting for their TTL; these tests settle every put first.
  await Promise.all(producers.splice(0).map((p) => p.close()));
  for (const client of clients.splice(0)) client.destroy();
});
afterAll(async () => {
  http1Only.closeAllConnections();
  await new Promise((resolve) => http1Only.close(resolve));
  await sim.stop();
});

function client(config: KinesisClientConfig): KinesisClient {
  const made = new KinesisClient({ maxAttempts: 1, ...config });
  clients.push(made);
  return made;
}

function producer(kinesis: KinesisClient, options: Partial<ProducerOptions> = {}): KinesisProducer {
  const made = new KinesisProducer({
    client: kinesis,
    streamName: STREAM,
    maxBufferedTimeMs: 10,
    shardMapRefreshMinDelayMs: 50,
    shardMapRefreshMaxDelayMs: 200,
    recordTtlMs: LONG_TTL_MS,
    ...options,
  });
  producers.push(made);
  return made;
}

function mapFailures(p: KinesisProducer): ProducerEvents['shardMapRefreshFailed'][0][] {
  const seen: ProducerEvents['shardMapRefreshFailed'][0][] = [];
  p.on('shardMapRefreshFailed', (event) => seen.push(event));
  return seen;
}

async function rejection(promise: Promise<unknown>): Promise<ProducerError> {
  const error = await promise.then(
    () => {
      throw new Error('the put resolved');
    },
    (e: unknown) => e,
  );
  return error as ProducerError;
}

describe('configuration problems fail puts at once with CONFIGURATION, not EXPIRED at the TTL', () => {
  it('no credentials', async () => {
    const kinesis = client({
      endpoint: sim.endpoint,
      region: sim.region,
      requestHandler: localRequestHandler(),
      // What the SDK's provider chain throws when it finds nothing.
      credentials: async () => {
        throw Object.assign(new Error('Could not load credentials from any providers'), {
          name: 'CredentialsProviderError',
        });
      },
    });
    const p = producer(kinesis);
    const failures = mapFailures(p);
    const error = await rejection(p.put({ partitionKey: 'k', data: 'x' }));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error).toMatchObject({
      code: 'CONFIGURATION',
      retriable: false,
      problem: 'CredentialsProviderError',
    });
    expect((error.cause as Error).name).toBe('CredentialsProviderError');
    expect(error.message).toMatch(/no credentials: Could not load credentials/);
    expect(failures[0]).toMatchObject({ errorCode: 'CredentialsProviderError', configuration: true });
    expect(p.metrics().UserRecordsPending).toBe(0);
  });

  it('no region', async () => {
    const saved = { ...process.env };
    // Neither the environment nor a config file may supply one.
    for (const name of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE']) delete process.env[name];
    process.env.AWS_CONFIG_FILE = '/nonexistent/shardline-config';
    process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/shardline-credentials';
    try {
      const kinesis = client({
        endpoint: sim.endpoint,
        credentials: LOCAL_CREDENTIALS,
        requestHandler: localRequestHandler(),
      });
      const p = producer(kinesis);
      const error = await rejection(p.put({ partitionKey: 'k', data: 'x' }));
      expect(error).toMatchObject({ code: 'CONFIGURATION', problem: 'MissingRegion' });
      expect((error.cause as Error).message).toMatch(/Region is missing/);
      // The next put fails the same way at once, without another ListShards (the failure's backoff runs).
      const listings = sim.stats().requests.ListShards ?? 0;
      await expect(p.put({ partitionKey: 'k', data: 'y' })).rejects.toMatchObject({ code: 'CONFIGURATION' });
      expect(sim.stats().requests.ListShards ?? 0).toBe(listings);
    } finally {
      process.env = saved;
    }
  });

  // The Kinesis client's default handler speaks HTTP/2 (for SubscribeToShard); kinesis-local and most proxies
  // speak HTTP/1.1 only. The simulator serves both, so the endpoint here is a plain HTTP/1.1 server.
  it.each([
    ['the SDK default handler', undefined],
    ['an explicit NodeHttp2Handler', new NodeHttp2Handler()],
  ])('an HTTP/2 client against an HTTP/1.1 endpoint (%s)', async (_, requestHandler) => {
    const kinesis = client({
      endpoint: http1Endpoint,
      region: sim.region,
      credentials: LOCAL_CREDENTIALS,
      ...(requestHandler === undefined ? {} : { requestHandler }),
    });
    const p = producer(kinesis);
    const error = await rejection(p.put({ partitionKey: 'k', data: 'x' }));
    expect(error).toMatchObject({ code: 'CONFIGURATION', problem: 'ProtocolMismatch', retriable: false });
    expect((error.cause as { code?: string }).code).toBe('ERR_HTTP2_ERROR');
    expect(error.message).toMatch(/does not speak HTTP\/2.*NodeHttpHandler/);
  });
});

describe('failures that may pass are retried until the TTL, and the error says what they were', () => {
  it('an unreachable endpoint: the first listing failure is reported at once, the record expires with its cause', async () => {
    const port = await freeLoopbackPort(); // released at once: nothing listens there
    const kinesis = client({
      endpoint: `http://127.0.0.1:${port}`,
      region: sim.region,
      credentials: LOCAL_CREDENTIALS,
      requestHandler: localRequestHandler(),
    });
    const p = producer(kinesis, { recordTtlMs: 5_000 });
    const failures = mapFailures(p);
    let settled = false;
    const put = p.put({ partitionKey: 'k', data: 'x' }).finally(() => {
      settled = true;
    });
    const error = rejection(put);
    await vi.waitFor(() => expect(failures.length).toBeGreaterThan(0), { timeout: 4_000 });
    // Reported while the record still waits, not when the listing gives up at the TTL.
    expect(settled).toBe(false);
    expect(failures[0]).toMatchObject({ errorCode: 'ECONNREFUSED', retriable: true, configuration: false });
    const expired = await error;
    expect(expired).toBeInstanceOf(ExpiredError);
    expect(expired.code).toBe('EXPIRED');
    expect((expired.cause as { code?: string }).code).toBe('ECONNREFUSED');
    expect(expired.message).toMatch(/last error ECONNREFUSED: .*ECONNREFUSED 127\.0\.0\.1/);
  }, 15_000);

  it('a PutRecords that keeps failing: the expired record carries the service error as cause and in its message', async () => {
    const kinesis = sim.createClient({ maxAttempts: 1 });
    clients.push(kinesis);
    injectKinesisFaults(kinesis, {
      seed: 1,
      rules: [{ name: '503', operations: ['PutRecords'], probability: 1, action: Faults.serverError(503) }],
    });
    const p = producer(kinesis, { recordTtlMs: 1_000, retryBaseDelayMs: 10, retryMaxDelayMs: 50 });
    const expired = await rejection(p.put({ partitionKey: 'k', data: 'x' }));
    expect(expired).toBeInstanceOf(ExpiredError);
    const cause = expired.cause as { $metadata?: { httpStatusCode?: number }; name?: string };
    expect(cause.$metadata?.httpStatusCode).toBe(503);
    expect(expired.message).toContain(`last error ${cause.name}`);
    expect(expired.attempts.length).toBeGreaterThan(0);
  }, 15_000);
});

describe('error vocabulary shared with the consumer', () => {
  it('invalid options throw ConfigurationError with code CONFIGURATION; InvalidOptionsError is the same class', () => {
    const kinesis = sim.createClient();
    let thrown: unknown;
    try {
      new KinesisProducer({ client: kinesis, streamName: STREAM, recordTtlMs: 1 });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigurationError);
    expect(thrown).toBeInstanceOf(InvalidOptionsError);
    expect(thrown).toMatchObject({ code: 'CONFIGURATION', retriable: false, problem: undefined });
  });
});
