// `@shardline/producer/emf`: the producer's metrics as CloudWatch Embedded Metric Format JSON lines.
import { ConfigurationError } from './errors.js';
import { type EmfExport, type EmfExportOptions, startEmfExport } from './export/core.js';
import { producerSource } from './export/definitions.js';
import type { KinesisProducer } from './KinesisProducer.js';

export type { EmfExport, EmfExportOptions, MetricsExport } from './export/core.js';

/**
 * Writes the producer's metrics (the KPL's names, dimension `StreamName`, plus `ShardId` or `ErrorCode` where
 * they apply) as CloudWatch Embedded Metric Format JSON lines every `intervalMs`, to stdout by default:
 * `const metrics = exportToEmf(producer);` ... `metrics.stop()` writes the last report and stops.
 * @throws ConfigurationError (code `INVALID_OPTIONS`) for an invalid option.
 */
export function exportToEmf(producer: KinesisProducer, options?: EmfExportOptions): EmfExport {
  if (typeof (producer as Partial<KinesisProducer> | null)?.metrics !== 'function') {
    throw new ConfigurationError('exportToEmf needs a KinesisProducer');
  }
  return startEmfExport(producerSource(producer), options, 'KinesisProducerLibrary');
}
