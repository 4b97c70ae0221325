// `@shardline/consumer/opentelemetry`: the consumer's metrics as OpenTelemetry instruments. Needs
// `@opentelemetry/api` (an optional peer dependency); the rest of the package never loads it.

import { asConfigurationError, type MetricsExport } from '@shardline/telemetry';
import {
  type OpenTelemetryExportOptions,
  startOpenTelemetryExport,
} from '@shardline/telemetry/opentelemetry';
import { ConfigurationError } from './errors.js';
import { consumerSource } from './export/definitions.js';
import type { KinesisConsumer } from './KinesisConsumer.js';

export type { MetricsExport } from '@shardline/telemetry';
export type { OpenTelemetryExportOptions } from '@shardline/telemetry/opentelemetry';

/**
 * Publishes the worker's metrics (the KCL's names where it has them, attributes `StreamName` and
 * `ApplicationName`, plus `ShardId` for `MillisBehindLatest` and `BlockedTime`) through OpenTelemetry:
 * observable counters and gauges read from `metrics()` at each collection, a histogram of the time shards were
 * blocked. `exportToOpenTelemetry(consumer)` uses the global meter
 * provider; `stop()` removes the callbacks and listeners.
 * @throws ConfigurationError (code `CONFIGURATION`) for an invalid option.
 */
export function exportToOpenTelemetry(
  consumer: KinesisConsumer,
  options?: OpenTelemetryExportOptions,
): MetricsExport {
  if (typeof (consumer as Partial<KinesisConsumer> | null)?.metrics !== 'function') {
    throw new ConfigurationError('exportToOpenTelemetry needs a KinesisConsumer');
  }
  return asConfigurationError(
    () => startOpenTelemetryExport(consumerSource(consumer), options, '@shardline/consumer'),
    (message) => new ConfigurationError(message),
  );
}
