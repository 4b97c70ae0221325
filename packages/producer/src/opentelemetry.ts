// `@shardline/producer/opentelemetry`: the producer's metrics as OpenTelemetry instruments. Needs
// `@opentelemetry/api` (an optional peer dependency); the rest of the package never loads it.

import { asConfigurationError, type MetricsExport } from '@shardline/telemetry';
import {
  type OpenTelemetryExportOptions,
  startOpenTelemetryExport,
} from '@shardline/telemetry/opentelemetry';
import { ConfigurationError } from './errors.js';
import { producerSource } from './export/definitions.js';
import type { KinesisProducer } from './KinesisProducer.js';

export type { MetricsExport } from '@shardline/telemetry';
export type { OpenTelemetryExportOptions } from '@shardline/telemetry/opentelemetry';

/**
 * Publishes the producer's metrics (the KPL's names, attribute `StreamName`, plus `ShardId` or `ErrorCode`
 * where they apply) through OpenTelemetry: observable counters and gauges read from `metrics()` at each
 * collection, histograms of every PutRecords call. `exportToOpenTelemetry(producer)` uses the global meter
 * provider; `stop()` removes the callbacks and listeners.
 * @throws ConfigurationError (code `CONFIGURATION`) for an invalid option.
 */
export function exportToOpenTelemetry(
  producer: KinesisProducer,
  options?: OpenTelemetryExportOptions,
): MetricsExport {
  if (typeof (producer as Partial<KinesisProducer> | null)?.metrics !== 'function') {
    throw new ConfigurationError('exportToOpenTelemetry needs a KinesisProducer');
  }
  return asConfigurationError(
    () => startOpenTelemetryExport(producerSource(producer), options, '@shardline/producer'),
    (message) => new ConfigurationError(message),
  );
}
