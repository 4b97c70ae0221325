// `@shardline/producer/opentelemetry`: the producer's metrics as OpenTelemetry instruments. Needs
// `@opentelemetry/api` (an optional peer dependency); the rest of the package never loads it.
import { ConfigurationError } from './errors.js';
import type { MetricsExport } from './export/core.js';
import { producerSource } from './export/definitions.js';
import { type OpenTelemetryExportOptions, startOpenTelemetryExport } from './export/otel.js';
import type { KinesisProducer } from './KinesisProducer.js';

export type { MetricsExport } from './export/core.js';
export type { OpenTelemetryExportOptions } from './export/otel.js';

/**
 * Publishes the producer's metrics (the KPL's names, attribute `StreamName`, plus `ShardId` or `ErrorCode`
 * where they apply) through OpenTelemetry: observable counters and gauges read from `metrics()` at each
 * collection, histograms of every PutRecords call. `exportToOpenTelemetry(producer)` uses the global meter
 * provider; `stop()` removes the callbacks and listeners.
 * @throws ConfigurationError (code `INVALID_OPTIONS`) for an invalid option.
 */
export function exportToOpenTelemetry(
  producer: KinesisProducer,
  options?: OpenTelemetryExportOptions,
): MetricsExport {
  if (typeof (producer as Partial<KinesisProducer> | null)?.metrics !== 'function') {
    throw new ConfigurationError('exportToOpenTelemetry needs a KinesisProducer');
  }
  return startOpenTelemetryExport(producerSource(producer), options, '@shardline/producer');
}
