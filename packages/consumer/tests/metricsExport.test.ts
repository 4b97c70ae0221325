import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { createStream, parseEmfLines, uniqueName } from '@shardline/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { exportToEmf } from '../src/emf.js';
import { exportToOpenTelemetry } from '../src/opentelemetry.js';
import { localStack, makeConsumer, putKeyed, waitFor } from './helpers.js';

const stack = localStack();
afterAll(() => stack.destroy());

function collected(exporter: InMemoryMetricExporter): Map<string, MetricData> {
  const byName = new Map<string, MetricData>();
  for (const resource of exporter.getMetrics()) {
    for (const scope of resource.scopeMetrics) {
      for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
    }
  }
  return byName;
}

describe('consumer metric exporters', () => {
  it('publish the KCL metrics of a real worker to OpenTelemetry and as valid EMF', async () => {
    const streamName = uniqueName('metrics');
    const applicationName = uniqueName('app');
    await createStream(stack.kinesis, { streamName, shardCount: 2 });
    const written = await putKeyed(stack.kinesis, streamName, ['a', 'b', 'c', 'd'], 0, 10);
    const consumer = makeConsumer(stack, {
      streamName,
      applicationName,
      initialPosition: 'TRIM_HORIZON',
      processor: async () => {},
    });
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const provider = new MeterProvider({ readers: [reader] });
    const otel = exportToOpenTelemetry(consumer, { meter: provider.getMeter('test') });
    let text = '';
    const emf = exportToEmf(consumer, { output: { write: (chunk: string) => (text += chunk) } });
    await consumer.start();
    try {
      await waitFor(
        () =>
          consumer.metrics().recordsProcessed >= written &&
          consumer.metrics().shards.every((s) => s.millisBehindLatest !== undefined) &&
          consumer.metrics().shards.length === 2,
        20_000,
        'all records processed',
      );
      await reader.forceFlush();
      emf.flush();
      const metrics = collected(exporter);
      const base = { StreamName: streamName, ApplicationName: applicationName };

      const lag = metrics.get('MillisBehindLatest');
      expect(lag?.dataPointType).toBe(DataPointType.GAUGE);
      expect(lag?.descriptor.unit).toBe('ms');
      expect(
        lag?.dataPoints
          .map((p) => p.attributes)
          .sort((x, y) => String(x.ShardId).localeCompare(String(y.ShardId))),
      ).toEqual([
        { ...base, ShardId: 'shardId-000000000000' },
        { ...base, ShardId: 'shardId-000000000001' },
      ]);
      const processed = metrics.get('RecordsProcessed');
      expect(processed?.dataPointType === DataPointType.SUM && processed.isMonotonic).toBe(true);
      expect(processed?.dataPoints).toEqual([expect.objectContaining({ value: written, attributes: base })]);
      expect(metrics.get('BytesProcessed')?.descriptor.unit).toBe('By');
      expect(metrics.get('CurrentLeases')?.dataPoints[0]?.value).toBe(2);
      expect(metrics.get('NumWorkers')?.dataPoints[0]?.value).toBe(1);
      expect(metrics.get('LeasesTaken')?.dataPoints[0]?.value).toBe(2);
      for (const name of [
        'HandoffsRequested',
        'BalanceMoves',
        'GetRecordsThrottles',
        'RecordsDeadLettered',
        'ShardsBlocked',
      ]) {
        expect({ name, value: metrics.get(name)?.dataPoints[0]?.value }).toEqual({ name, value: 0 });
      }
      expect(metrics.get('BlockedTime')?.dataPointType ?? DataPointType.HISTOGRAM).toBe(
        DataPointType.HISTOGRAM,
      );

      // EMF: the application's name as namespace (the KCL's), the same names and dimensions.
      const lines = parseEmfLines(text);
      for (const metric of lines) {
        expect(metric.namespace).toBe(applicationName);
        expect(metric).toMatchObject({ dimensions: base });
      }
      const emfLag = lines.filter((m) => m.name === 'MillisBehindLatest');
      expect(emfLag.map((m) => m.dimensions.ShardId).sort()).toEqual([
        'shardId-000000000000',
        'shardId-000000000001',
      ]);
      expect(emfLag.every((m) => m.unit === 'Milliseconds')).toBe(true);
      expect(lines.find((m) => m.name === 'RecordsProcessed')).toMatchObject({
        unit: 'Count',
        values: [written],
      });
      expect(lines.find((m) => m.name === 'CurrentLeases')?.values).toEqual([2]);
    } finally {
      await consumer.stop({ timeoutMs: 5_000 });
      otel.stop();
      emf.stop();
      await provider.shutdown();
    }
    // stop() wrote a last report: counters as their increase since the previous one (nothing new processed).
    const lastReport = parseEmfLines(text).filter((m) => m.name === 'RecordsProcessed');
    expect(lastReport.at(-1)?.values).toEqual([0]);
  });

  it('validate their options with ConfigurationError (CONFIGURATION)', () => {
    const consumer = makeConsumer(stack, {
      streamName: 'never-used',
      applicationName: 'never-used',
      processor: async () => {},
    });
    const invalid = { code: 'CONFIGURATION', name: 'ConfigurationError' };
    expect(() => exportToEmf(consumer, { namespace: 'AWS/KinesisAnalytics' })).toThrow(
      expect.objectContaining(invalid),
    );
    expect(() => exportToEmf(consumer, { intervalMs: 0 })).toThrow(expect.objectContaining(invalid));
    expect(() => exportToEmf(consumer, { attributes: { ShardId: 'x' } })).toThrow(
      expect.objectContaining(invalid),
    );
    expect(() => exportToOpenTelemetry(consumer, { meter: null as never })).toThrow(
      expect.objectContaining(invalid),
    );
    expect(() => exportToOpenTelemetry(undefined as never)).toThrow(expect.objectContaining(invalid));
  });
});
