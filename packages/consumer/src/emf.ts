// `@shardline/consumer/emf`: the consumer's metrics as CloudWatch Embedded Metric Format JSON lines.

import {
  asConfigurationError,
  type EmfExport,
  type EmfExportOptions,
  startEmfExport,
} from '@shardline/telemetry';
import { ConfigurationError } from './errors.js';
import { consumerSource } from './export/definitions.js';
import type { KinesisConsumer } from './KinesisConsumer.js';

export type { EmfExport, EmfExportOptions, MetricsExport } from '@shardline/telemetry';

/**
 * Writes the worker's metrics (the KCL's names where it has them, dimensions `StreamName` and
 * `ApplicationName`, plus `ShardId` for `MillisBehindLatest` and `BlockedTime`) as CloudWatch Embedded Metric
 * Format JSON lines every `intervalMs`, to stdout by default, in the namespace of the application's name (as
 * the KCL does) unless `namespace` says otherwise: `const metrics = exportToEmf(consumer);` ...
 * `metrics.stop()` writes the last report and stops.
 * @throws ConfigurationError (code `CONFIGURATION`) for an invalid option.
 */
export function exportToEmf(consumer: KinesisConsumer, options?: EmfExportOptions): EmfExport {
  if (typeof (consumer as Partial<KinesisConsumer> | null)?.metrics !== 'function') {
    throw new ConfigurationError('exportToEmf needs a KinesisConsumer');
  }
  return asConfigurationError(
    () => startEmfExport(consumerSource(consumer), options, consumer.applicationName),
    (message) => new ConfigurationError(message),
  );
}
