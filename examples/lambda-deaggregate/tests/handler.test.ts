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
import { createHandler, type Order } from '../src/handler.js';

const stack = connectLocalStack(inject('localStack'));
afterAll(() => stack.destroy());

/** The event Lambda would deliver for these records (as read back from the stream). */
function toEvent(
  records: StreamRecord[],
  streamName: string,
): KinesisStreamEvent & AwsLambdaKinesisStreamEvent {
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

describe('lambda-deaggregate handler', () => {
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
    const handler = createHandler(async (o, meta) => {
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
    const handler = createHandler(async (o) => {
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
    expect(seen).toEqual(['o1', 'o4', 'o5']);
    expect(errors.join('\n')).toContain('not a JSON order');
    expect(errors.join('\n')).not.toContain('not json'); // no payloads in logs
  });

  it('bundles to at most 25 KB (esbuild, minified) and the bundle runs as Lambda would run it', async () => {
    const outdir = mkdtempSync(join(tmpdir(), 'shardline-lambda-'));
    try {
      const outfile = join(outdir, 'index.mjs');
      const result = await build({
        entryPoints: [fileURLToPath(new URL('../src/handler.ts', import.meta.url))],
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
      expect(inputs.some((path) => path.includes('@aws-sdk') || path.includes('protobufjs'))).toBe(false);
      const size = statSync(outfile).size;
      console.log(
        `lambda bundle: ${size} bytes (${(size / 1024).toFixed(1)} KiB) from ${inputs.length} inputs`,
      );
      expect(size).toBeLessThanOrEqual(25 * 1024);

      const { handler } = (await import(pathToFileURL(outfile).href)) as {
        handler: (event: KinesisStreamEvent) => Promise<KinesisStreamBatchResponse>;
      };
      const aggregator = new RecordAggregator();
      aggregator.add({ partitionKey: 'a', data: order(1) });
      aggregator.add({ partitionKey: 'b', data: order(2, -1) });
      const aggregate = aggregator.flush();
      if (!aggregate) throw new Error('aggregator returned nothing');
      const event: KinesisStreamEvent = {
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
        ],
      };
      const originalError = console.error;
      console.error = () => {};
      try {
        expect(await handler(event)).toEqual({ batchItemFailures: [{ itemIdentifier: '1' }] });
      } finally {
        console.error = originalError;
      }
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
