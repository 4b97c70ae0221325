// `@shardline/producer/emf`: the producer's metrics as CloudWatch Embedded Metric Format JSON lines.

import {
  asConfigurationError,
  type EmfExport,
  type EmfExportOptions,
  startEmfExport,
} from '@shardline/telemetry';
import { ConfigurationError } from './errors.js';
import { producerSource } from './export/definitions.js';
import type { KinesisProducer } from './KinesisProducer.js';

export type { EmfExport, EmfExportOptions, MetricsExport } from '@shardline/telemetry';

/**
 * Writes the producer's metrics (the KPL's names, dimension `StreamName`, plus `ShardId` or `ErrorCode` where
 * they apply) as CloudWatch Embedded Metric Format JSON lines every `intervalMs`, to stdout by default:
 * `const metrics = exportToEmf(producer);` ... `metrics.stop()` writes the last report and stops.
 * @throws ConfigurationError (code `CONFIGURATION`) for an invalid option.
 */
export function exportToEmf(producer: KinesisProducer, options?: EmfExportOptions): EmfExport {
  if (typeof (producer as Partial<KinesisProducer> | null)?.metrics !== 'function') {
    throw new ConfigurationError('exportToEmf needs a KinesisProducer');
  }
  return asConfigurationError(
    () => startEmfExport(producerSource(producer), options, 'KinesisProducerLibrary'),
    (message) => new ConfigurationError(message),
  );
}
