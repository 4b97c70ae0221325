import { Writable } from 'node:stream';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { connectLocalStack, createStream, parseEmfLines, uniqueName } from '@shardline/testkit';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { exportToEmf } from '../src/emf.js';
import { KinesisProducer } from '../src/index.js';
import { exportToOpenTelemetry } from '../src/opentelemetry.js';

const stack = connectLocalStack(inject('localStack'));
afterAll(() => stack.destroy());

function collected(exporter: InMemoryMetricExporter): Map<string, MetricData> {
  const byName = new Map<string, MetricData>();
  for (const resource of exporter.getMetrics()) {
    for (const scope of resource.scopeMetrics)
      for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
  }
  return byName;
}

describe('exportToOpenTelemetry (producer)', () => {
  it('publishes the KPL metrics from a real run to the SDK, with the right instruments and attributes', async () => {
    const streamName = uniqueName('otel-producer');
    await createStream(stack.kinesis, { streamName, shardCount: 2 });
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const provider = new MeterProvider({ readers: [reader] });
    const producer = new KinesisProducer({ client: stack.kinesis, streamName, maxBufferedTimeMs: 20 });
    const exported = exportToOpenTelemetry(producer, {
      meter: provider.getMeter('test'),
      attributes: { service: 'billing' },
    });
    try {
      await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          producer.put({ partitionKey: `k${i}`, data: `secret-payload-${i}` }),
        ),
      );
      await reader.forceFlush();
      const metrics = collected(exporter);
      const put = metrics.get('UserRecordsPut');
      expect(put?.dataPointType).toBe(DataPointType.SUM);
      expect(put?.dataPointType === DataPointType.SUM && put.isMonotonic).toBe(true);
      expect(put?.dataPoints).toEqual([
        expect.objectContaining({ value: 60, attributes: { service: 'billing', StreamName: streamName } }),
      ]);
      expect(metrics.get('UserRecordsDataPut')?.descriptor.unit).toBe('By');
      expect(metrics.get('KinesisRecordsPut')?.dataPoints[0]?.value).toBeGreaterThan(0);
      const pending = metrics.get('UserRecordsPending');
      expect(pending?.dataPointType).toBe(DataPointType.GAUGE);
      expect(pending?.dataPoints[0]?.value).toBe(0);
      // Per-shard gauges name the shard.
      const rate = metrics.get('RateLimitByShard');
      expect(rate?.dataPointType).toBe(DataPointType.GAUGE);
      expect(rate?.dataPoints.map((p) => p.attributes.ShardId).sort()).toEqual([
        'shardId-000000000000',
        'shardId-000000000001',
      ]);
      // Histograms from every PutRecords answer.
      const requestTime = metrics.get('RequestTime');
      expect(requestTime?.dataPointType).toBe(DataPointType.HISTOGRAM);
      expect(requestTime?.descriptor.unit).toBe('ms');
      const histogram = requestTime?.dataPoints[0]?.value as { count: number; sum: number } | undefined;
      expect(histogram?.count).toBe(producer.metrics().RequestTime.count);
      const entries = metrics.get('KinesisRecordsPerPutRecordsRequest')?.dataPoints[0]?.value as
        | { sum: number }
        | undefined;
      expect(entries?.sum).toBe(producer.metrics().KinesisRecordsPut);
      // Interval averages: only when there were values since the last collection.
      expect(metrics.get('BufferingTime')?.dataPoints).toHaveLength(1);
      // No payload ever reaches an attribute.
      expect(JSON.stringify(exporter.getMetrics())).not.toContain('secret-payload');
      // stop() removes the callbacks: the SDK keeps the last cumulative value, but the record put after it
      // is not observed.
      exported.stop();
      exported.stop();
      await producer.put({ partitionKey: 'after', data: 'x' });
      expect(producer.metrics().UserRecordsPut).toBe(61);
      exporter.reset();
      await reader.forceFlush();
      const after = collected(exporter).get('UserRecordsPut');
      expect(after?.dataPoints.map((p) => p.value) ?? []).not.toContain(61);
    } finally {
      exported.stop();
      await producer.close();
      await provider.shutdown();
    }
  });

  it('validates its options with ConfigurationError (CONFIGURATION)', async () => {
    const producer = new KinesisProducer({ client: stack.kinesis, streamName: 'never-used' });
    const invalid = { code: 'CONFIGURATION', name: 'ConfigurationError' };
    expect(() => exportToOpenTelemetry(producer, { meter: {} as never })).toThrow(
      expect.objectContaining(invalid),
    );
    expect(() => exportToOpenTelemetry(producer, { attributes: { StreamName: 'x' } })).toThrow(
      /set by Shardline/,
    );
    expect(() => exportToOpenTelemetry(producer, { attributes: { a: 1 as never } })).toThrow(
      expect.objectContaining(invalid),
    );
    const many = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 'v']));
    expect(() => exportToOpenTelemetry(producer, { attributes: many })).toThrow(
      expect.objectContaining(invalid),
    );
    expect(() => exportToOpenTelemetry({} as never)).toThrow(expect.objectContaining(invalid));
    expect(() => exportToEmf(producer, { namespace: 'AWS/Kinesis' })).toThrow(
      expect.objectContaining(invalid),
    );
    expect(() => exportToEmf(producer, { namespace: '' })).toThrow(expect.objectContaining(invalid));
    expect(() => exportToEmf(producer, { intervalMs: 999 })).toThrow(expect.objectContaining(invalid));
    expect(() => exportToEmf(producer, { intervalMs: 3_600_001 })).toThrow(expect.objectContaining(invalid));
    expect(() => exportToEmf(producer, { intervalMs: 1.5 })).toThrow(expect.objectContaining(invalid));
    expect(() => exportToEmf(producer, { output: {} as never })).toThrow(expect.objectContaining(invalid));
    expect(() => exportToEmf(producer, 'x' as never)).toThrow(expect.objectContaining(invalid));
    await producer.close();
  });
});

describe('exportToEmf (producer)', () => {
  it('writes valid EMF lines with the KPL names and dimensions from a real run', async () => {
    const streamName = uniqueName('emf-producer');
    await createStream(stack.kinesis, { streamName, shardCount: 2 });
    let text = '';
    const output = new Writable({
      write(chunk, _encoding, callback) {
        text += String(chunk);
        callback();
      },
    });
    const producer = new KinesisProducer({ client: stack.kinesis, streamName, maxBufferedTimeMs: 20 });
    const exported = exportToEmf(producer, {
      output,
      intervalMs: 60_000,
      attributes: { Service: 'billing' },
    });
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        producer.put({ partitionKey: `k${i}`, data: `secret-payload-${i}` }),
      ),
    );
    exported.flush();
    const first = parseEmfLines(text);
    text = '';
    await Promise.all(
      Array.from({ length: 5 }, (_, i) => producer.put({ partitionKey: `k${i}`, data: 'x' })),
    );
    await producer.close();
    exported.stop(); // writes the last report
    exported.stop();
    exported.flush(); // nothing after stop
    const second = parseEmfLines(text);
    const find = (metrics: typeof first, name: string) => metrics.filter((m) => m.name === name);

    for (const metric of [...first, ...second]) {
      expect(metric.namespace).toBe('KinesisProducerLibrary');
      expect(metric.dimensions.StreamName).toBe(streamName);
      expect(metric.dimensions.Service).toBe('billing');
    }
    // Counters are written as their increase over the interval.
    expect(find(first, 'UserRecordsPut')).toEqual([
      expect.objectContaining({
        unit: 'Count',
        values: [40],
        dimensions: { Service: 'billing', StreamName: streamName },
      }),
    ]);
    expect(find(second, 'UserRecordsPut')[0]?.values).toEqual([5]);
    expect(find(first, 'UserRecordsDataPut')[0]?.unit).toBe('Bytes');
    // Per-shard metrics carry ShardId as a dimension of their own set.
    const rate = find(first, 'RateLimitByShard');
    expect(rate.map((m) => m.dimensions.ShardId).sort()).toEqual([
      'shardId-000000000000',
      'shardId-000000000001',
    ]);
    expect(rate.every((m) => m.unit === 'None' && m.values[0] === 1)).toBe(true);
    // Histograms: every PutRecords call's duration (at most 100 values per line).
    const requestTime = find(first, 'RequestTime');
    expect(requestTime[0]?.unit).toBe('Milliseconds');
    expect(requestTime.flatMap((m) => m.values).length).toBeGreaterThan(0);
    expect(find(first, 'BufferingTime')[0]?.values).toHaveLength(1);
    expect(text + JSON.stringify(first)).not.toContain('secret-payload');
  });

  it('keeps each document within EMF limits when a histogram sees more than 100 values', async () => {
    const producer = new KinesisProducer({ client: stack.kinesis, streamName: 'never-used' });
    let text = '';
    const exported = exportToEmf(producer, { output: { write: (chunk: string) => (text += chunk) } });
    for (let i = 0; i < 250; i++) {
      producer.emit('request', { entries: 1, userRecords: i, failedEntries: 0, durationMs: i });
    }
    exported.stop();
    const metrics = parseEmfLines(text);
    const perRequest = metrics.find((m) => m.name === 'UserRecordsPerPutRecordsRequest');
    expect(perRequest?.values).toHaveLength(100);
    expect(perRequest?.values.every((v) => v >= 0 && v < 250)).toBe(true);
    await producer.close();
  });
});
