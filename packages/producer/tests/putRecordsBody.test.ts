// Our PutRecords body against the SDK's own serializer: a unit test of serialization. The SDK's body is taken
// from a real KinesisClient at the end of the build step (after every body-touching middleware), and the
// call stops there: nothing is sent.
import { createHash } from 'node:crypto';
import {
  KinesisClient,
  PutRecordsCommand,
  type PutRecordsCommandInput,
  type PutRecordsRequestEntry,
} from '@aws-sdk/client-kinesis';
import { describe, expect, it } from 'vitest';
import {
  ProtocolMismatchError,
  putRecordsBody,
  sendsAwsJson,
  serializeNatively,
} from '../src/sending/putRecordsBody.js';

interface Captured {
  body: unknown;
  headers: Record<string, string>;
}

function newClient(): KinesisClient {
  return new KinesisClient({
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:9',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
}

/** What the client would send for `command`: the request at the end of the build step. */
async function capture(command: PutRecordsCommand, client = newClient()): Promise<Captured> {
  let captured: Captured | undefined;
  command.middlewareStack.add(
    (_next) => async (args) => {
      captured = args.request as Captured;
      return { output: { $metadata: {} } as never, response: {} };
    },
    { step: 'build', priority: 'low', name: 'captureBody' },
  );
  await client.send(command);
  client.destroy();
  if (captured === undefined) throw new Error('no request captured');
  return captured;
}

function text(body: unknown): string {
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array)
    return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  throw new Error(`unexpected body ${typeof body}`);
}

/** The SDK's own JSON for this input, parsed. */
async function sdkJson(input: PutRecordsCommandInput): Promise<unknown> {
  return JSON.parse(text((await capture(new PutRecordsCommand(input))).body));
}

/** Ours for this input, parsed. */
function ourJson(input: PutRecordsCommandInput): unknown {
  return JSON.parse(putRecordsBody(input).toString('utf8'));
}

function records(entries: readonly Entry[]): PutRecordsRequestEntry[] {
  return entries.map(([PartitionKey, Data, ExplicitHashKey]) => ({ PartitionKey, Data, ExplicitHashKey }));
}

type Entry = [partitionKey: string, data: Uint8Array, explicitHashKey?: string];
type StreamId = { StreamName?: string; StreamARN?: string };

function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1_103_515_245) + 12_345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

const KEYS = [
  'ascii-key',
  '',
  'quote " backslash \\ slash / controls \u0000\u0001\u001f\b\f\n\r\t del \u007f',
  'café ünïcödé 日本語 \u2028\u2029 emoji 😀',
  'lone high \ud800 end',
  'lone low \udc00 end',
  'reversed pair \udc00\ud800',
  '\ud83d',
];

const ARN = 'arn:aws:kinesis:us-east-1:123456789012:stream/orders';

describe('PutRecords body', () => {
  const streams: [string, StreamId][] = [
    ['StreamName', { StreamName: 'orders' }],
    ['StreamARN', { StreamARN: ARN }],
    ['both', { StreamName: 'orders', StreamARN: ARN }],
  ];
  for (const [name, stream] of streams) {
    it(`parses to what the SDK serializes (${name})`, async () => {
      const entries: Entry[] = KEYS.flatMap((key, k): Entry[] => [
        [key, bytes(k * 37 + 1, k)],
        [key, bytes(k % 4, k + 100), String(2n ** 127n + BigInt(k))],
      ]);
      const input = { ...stream, Records: records(entries) };
      expect(ourJson(input)).toEqual(await sdkJson(input));
    });
  }

  it('encodes empty, binary, large and offset data like the SDK', async () => {
    const backing = bytes(70_000, 7);
    const entries: Entry[] = [
      ['empty', new Uint8Array(0)],
      ['every byte', Uint8Array.from({ length: 256 }, (_, i) => i), '0'],
      ...[1, 2, 3, 4, 5].map((n): Entry => [`len ${n}`, bytes(n, n)]),
      ['large', backing.subarray(0, 51_200)],
      ['view', backing.subarray(12_345, 12_345 + 1_001)],
      ['buffer', Buffer.from(backing.subarray(3, 300))],
    ];
    const input = { StreamName: 'orders', Records: records(entries) };
    expect(ourJson(input)).toEqual(await sdkJson(input));
  });

  it('omits what the SDK omits: no records, missing members', async () => {
    for (const input of [
      { StreamName: 'orders', Records: [] },
      { StreamName: 'orders', Records: [{ PartitionKey: 'k' } as PutRecordsRequestEntry] },
      { StreamName: 'orders', Records: [{ Data: bytes(3, 1) } as PutRecordsRequestEntry] },
    ]) {
      expect(ourJson(input)).toEqual(await sdkJson(input));
    }
  });

  it('is the body the client sends, with its content length, built from the input the client passed on', async () => {
    const input = {
      StreamName: 'orders',
      Records: records([
        ['café 😀 \ud800', bytes(1_000, 3)],
        ['b', bytes(5, 4)],
      ]),
    };
    const command = new PutRecordsCommand(input);
    serializeNatively(command);
    // A caller's middleware that rewrites the records (as fault injectors do) is honoured.
    const client = newClient();
    client.middlewareStack.add(
      (next) => (args) =>
        next({
          ...args,
          input: { ...args.input, Records: (args.input as PutRecordsCommandInput).Records?.slice(1) },
        }),
      { step: 'initialize', priority: 'normal', name: 'dropFirst' },
    );
    const before = client.middlewareStack.identify();
    const sent = await capture(command, client);
    const expected = putRecordsBody({ StreamName: 'orders', Records: input.Records.slice(1) });
    expect(Buffer.isBuffer(sent.body) && (sent.body as Buffer).equals(expected)).toBe(true);
    const lengths = Object.entries(sent.headers).filter(
      ([header]) => header.toLowerCase() === 'content-length',
    );
    expect(lengths).toEqual([['content-length', String(expected.byteLength)]]);
    expect(sent.headers['x-amz-target']).toBe('Kinesis_20131202.PutRecords');
    // The command's input and the caller's client are untouched.
    expect(command.input.Records).toHaveLength(2);
    expect(client.middlewareStack.identify()).toEqual(before);
  });

  it('is what the SDK signs: the payload hash is that of our body', async () => {
    let sent: Captured | undefined;
    const client = new KinesisClient({
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
      // The request as it would go on the wire, after retry and signing.
      requestHandler: {
        handle: async (request: Captured) => {
          sent = request;
          throw new Error('captured');
        },
      } as never,
    });
    const input = { StreamName: 'orders', Records: records([['k', bytes(2_000, 9)]]) };
    const command = new PutRecordsCommand(input);
    serializeNatively(command);
    await expect(client.send(command)).rejects.toThrow('captured');
    client.destroy();
    const body = putRecordsBody(input);
    expect(sent?.headers['x-amz-content-sha256']).toBe(createHash('sha256').update(body).digest('hex'));
    expect(sent?.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 /);
  });

  it('is in the request before any build-step middleware of the caller runs', async () => {
    const input = { StreamName: 'orders', Records: records([['k', bytes(64, 5)]]) };
    const command = new PutRecordsCommand(input);
    serializeNatively(command);
    const client = newClient();
    let seen: unknown;
    client.middlewareStack.add(
      (next) => (args) => {
        seen = (args.request as Captured).body;
        return next(args);
      },
      { step: 'build', priority: 'high', name: 'callerBuildHigh' },
    );
    await capture(command, client);
    expect(Buffer.isBuffer(seen) && (seen as Buffer).equals(putRecordsBody(input))).toBe(true);
  });

  it('is used only with a client that speaks awsJson1_1', () => {
    const client = newClient();
    expect(sendsAwsJson(client)).toBe(true);
    client.destroy();
    const withProtocol = (protocol: unknown) => ({ config: { protocol } }) as unknown as KinesisClient;
    expect(sendsAwsJson({ config: {} } as unknown as KinesisClient)).toBe(true);
    expect(sendsAwsJson(withProtocol({ getShapeId: () => 'aws.protocols#awsJson1_1' }))).toBe(true);
    expect(sendsAwsJson(withProtocol({ getShapeId: () => 'smithy.protocols#rpcv2Cbor' }))).toBe(false);
    expect(sendsAwsJson(withProtocol(class Unknown {}))).toBe(false);
  });

  it('fails the request rather than send JSON in a request serialized otherwise', async () => {
    const command = new PutRecordsCommand({ StreamName: 'orders', Records: records([['k', bytes(8, 1)]]) });
    serializeNatively(command);
    const client = newClient();
    // Stands for a serializer of another protocol: the request it leaves is not JSON.
    client.middlewareStack.add(
      (next) => (args) => {
        (args.request as Captured).headers['content-type'] = 'application/cbor';
        return next(args);
      },
      { step: 'serialize', priority: 'low', name: 'otherProtocol' },
    );
    await expect(capture(command, client)).rejects.toBeInstanceOf(ProtocolMismatchError);
  });
});
