import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PutRecordCommand, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { RecordAggregator } from '@shardline/aggregation';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from '@shardline/aggregation/lambda';
import { KinesisProducer } from '@shardline/producer';
import {
  connectLocalStack,
  createStream,
  readAllRecords,
  type StreamRecord,
  uniqueName,
} from '@shardline/testkit';
import type { KinesisStreamEvent as AwsLambdaKinesisStreamEvent } from 'aws-lambda';
import { build } from 'esbuild';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createHandler, type Order, type OrderHandler } from '../src/handler.js';
import { createPowertoolsHandler } from '../src/powertools.js';

const stack = connectLocalStack(inject('localStack'));
afterAll(() => stack.destroy());

/** The event Lambda would deliver for these records (as read back from the stream). */
function toEvent(records: StreamRecord[], streamName: string): AwsLambdaKinesisStreamEvent {
  return {
    Records: records.map((r) => ({
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `${r.shardId}:${r.SequenceNumber}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: 'arn:aws:iam::000000000000:role/example',
      awsRegion: 'us-east-1',
      eventSourceARN: `arn:aws:kinesis:us-east-1:000000000000:stream/${streamName}`,
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: r.PartitionKey ?? '',
        sequenceNumber: r.SequenceNumber ?? '',
        data: Buffer.from(r.Data ?? []).toString('base64'),
        approximateArrivalTimestamp: (r.ApproximateArrivalTimestamp?.getTime() ?? 0) / 1000,
      },
    })),
  };
}

function order(i: number, amount = 10): Uint8Array {
  return Buffer.from(JSON.stringify({ orderId: `o${i}`, amount }));
}

type Handler = (event: AwsLambdaKinesisStreamEvent) => Promise<KinesisStreamBatchResponse>;
const styles: [string, (handleOrder: OrderHandler) => Handler][] = [
  ['processKinesisEvent', createHandler],
  ['Powertools + kplRecordHandler', createPowertoolsHandler],
];

describe.each(styles)('lambda-deaggregate handler (%s)', (style, create) => {
  it('processes aggregated and plain records read back from the stream, in order per key', async () => {
    const streamName = uniqueName('lambda');
    await createStream(stack.kinesis, { streamName, shardCount: 2 });
    const producer = new KinesisProducer({ client: stack.kinesis, streamName });
    const puts = Array.from({ length: 60 }, (_, i) =>
      producer.put({ partitionKey: `k${i % 5}`, data: order(i) }),
    );
    await Promise.all(puts);
    await producer.close();
    await stack.kinesis.send(
      new PutRecordCommand({ StreamName: streamName, PartitionKey: 'k0', Data: order(60) }),
    );

    const records = await readAllRecords(stack.kinesis, streamName);
    expect(records.length).toBeLessThan(61); // the producer aggregated
    const seen: Array<{ order: Order; key: string }> = [];
    const handler = create(async (o, meta) => {
      seen.push({ order: o, key: meta.partitionKey });
    });
    const response = await handler(toEvent(records, streamName));
    expect(response).toEqual({ batchItemFailures: [] });
    expect(seen.map((s) => s.order.orderId).sort()).toEqual(
      Array.from({ length: 61 }, (_, i) => `o${i}`).sort(),
    );
    for (let k = 0; k < 5; k++) {
      const ids = seen.filter((s) => s.key === `k${k}`).map((s) => Number(s.order.orderId.slice(1)));
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
    }
  });

  it('reports the aggregate holding the first poison record, and other shards carry on', async () => {
    const streamName = uniqueName('lambda-poison');
    await createStream(stack.kinesis, { streamName, shardCount: 1 });
    const aggregator = new RecordAggregator();
    aggregator.add({ partitionKey: 'p', data: order(1) });
    aggregator.add({ partitionKey: 'p', data: Buffer.from('not json') });
    aggregator.add({ partitionKey: 'p', data: order(3) });
    const poisoned = aggregator.flush();
    aggregator.add({ partitionKey: 'p', data: order(4) });
    aggregator.add({ partitionKey: 'p', data: order(5) });
    const after = aggregator.flush();
    if (!poisoned || !after) throw new Error('aggregator returned nothing');
    const entries = [poisoned, after].map((a) => ({
      PartitionKey: a.partitionKey,
      Data: a.data,
      ...(a.explicitHashKey ? { ExplicitHashKey: a.explicitHashKey } : {}),
    }));
    const put = await stack.kinesis.send(new PutRecordsCommand({ StreamName: streamName, Records: entries }));
    const poisonedSequence = put.Records?.[0]?.SequenceNumber;

    const records = await readAllRecords(stack.kinesis, streamName);
    const event = toEvent(records, streamName);
    // A second shard in the same event, all good: it must be processed in full.
    const healthy = toEvent(records.slice(1), streamName).Records.map((r) => ({
      ...r,
      eventID: `shardId-000000000009:${r.kinesis.sequenceNumber}`,
    }));
    const seen: string[] = [];
    const handler = create(async (o) => {
      seen.push(o.orderId);
    });
    const errors: string[] = [];
    const originalError = console.error;
    console.error = (line: string) => errors.push(line);
    let response: KinesisStreamBatchResponse;
    try {
      response = await handler({ Records: [...event.Records, ...healthy] });
    } finally {
      console.error = originalError;
    }
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: poisonedSequence }]);
    // processKinesisEvent stops the poisoned shard at the failure; Powertools goes on with the records after it
    // (Lambda delivers them again when it retries from the poisoned aggregate). The healthy shard runs in full.
    expect(seen).toEqual(
      style === 'processKinesisEvent' ? ['o1', 'o4', 'o5'] : ['o1', 'o4', 'o5', 'o4', 'o5'],
    );
    expect(errors.join('\n')).toContain('not a JSON order');
    expect(errors.join('\n')).not.toContain('not json'); // no payloads in logs
  });
});

// Measured 25.2 KiB with Powertools 2.35.0, of which about 9.5 KiB is Powertools (and the invoke store it
// needs); the rest is the plain style's. Room for Powertools to grow, not for ours to.
const POWERTOOLS_BUNDLE_LIMIT = 35 * 1024;

/** Bundles an entry as the README's `bundle` script does, and imports the bundle as Lambda would. */
async function bundle(entry: string, outdir: string) {
  const outfile = join(outdir, `${entry}.mjs`);
  const result = await build({
    entryPoints: [fileURLToPath(new URL(`../src/${entry}.ts`, import.meta.url))],
    bundle: true,
    minify: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    conditions: ['@shardline/source'],
    outfile,
    metafile: true,
    logLevel: 'silent',
  });
  const inputs = Object.keys(result.metafile.inputs);
  const size = statSync(outfile).size;
  console.log(
    `lambda bundle ${entry}: ${size} bytes (${(size / 1024).toFixed(1)} KiB) from ${inputs.length} inputs`,
  );
  const { handler } = (await import(pathToFileURL(outfile).href)) as {
    handler: (event: KinesisStreamEvent) => Promise<KinesisStreamBatchResponse>;
  };
  return { inputs, size, handler };
}

/** One aggregate of a good order and a negative-amount one (which the deployed logic rejects). */
function badAggregateEvent(): KinesisStreamEvent {
  const aggregator = new RecordAggregator();
  aggregator.add({ partitionKey: 'a', data: order(1) });
  aggregator.add({ partitionKey: 'b', data: order(2, -1) });
  const aggregate = aggregator.flush();
  if (!aggregate) throw new Error('aggregator returned nothing');
  return {
    Records: [
      {
        eventID: 'shardId-000000000000:1',
        kinesis: {
          partitionKey: aggregate.partitionKey,
          sequenceNumber: '1',
          data: Buffer.from(aggregate.data).toString('base64'),
          approximateArrivalTimestamp: 1,
        },
      },
      {
        eventID: 'shardId-000000000000:2',
        kinesis: {
          partitionKey: 'c',
          sequenceNumber: '2',
          data: Buffer.from(order(3)).toString('base64'),
          approximateArrivalTimestamp: 1,
        },
      },
    ],
  };
}

async function quietly<T>(fn: () => Promise<T>): Promise<{ value: T; logged: string[] }> {
  const logged: string[] = [];
  const originalError = console.error;
  console.error = (line: string) => logged.push(line);
  try {
    return { value: await fn(), logged };
  } finally {
    console.error = originalError;
  }
}

describe('lambda-deaggregate bundles (esbuild, minified, run as Lambda would run them)', () => {
  const outdir = mkdtempSync(join(tmpdir(), 'shardline-lambda-'));
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('plain style: at most 25 KB, nothing of the AWS SDK, protobuf or Powertools', async () => {
    const { inputs, size, handler } = await bundle('handler', outdir);
    expect(
      inputs.filter((path) => /@aws-sdk|protobufjs|@aws-lambda-powertools|aws-lambda-powertools/.test(path)),
    ).toEqual([]);
    expect(size).toBeLessThanOrEqual(25 * 1024);
    const { value } = await quietly(() => handler(badAggregateEvent()));
    expect(value).toEqual({ batchItemFailures: [{ itemIdentifier: '1' }] });
  });

  it('Powertools style: at most 35 KB, no AWS SDK or protobuf', async () => {
    const { inputs, size, handler } = await bundle('powertools', outdir);
    expect(inputs.filter((path) => /@aws-sdk|protobufjs/.test(path))).toEqual([]);
    expect(inputs.some((path) => path.includes('@aws-lambda-powertools/batch'))).toBe(true);
    expect(size).toBeLessThanOrEqual(POWERTOOLS_BUNDLE_LIMIT);
    const { value, logged } = await quietly(() => handler(badAggregateEvent()));
    expect(value).toEqual({ batchItemFailures: [{ itemIdentifier: '1' }] });
    expect(logged.join('\n')).toContain('user record 1/1 failed: order o2 has a negative amount');
  });
});
