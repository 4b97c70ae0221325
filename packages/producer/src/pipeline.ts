import type { ProducerEvents } from './events.js';
import type { MetricsRecorder } from './metrics.js';
import type { ResolvedOptions } from './options.js';
import type { Wakeup } from './Wakeup.js';

/**
 * What every stage of the pipeline shares with the producer's face: the options, the metrics, the loop's
 * wake-up, and the two ways to tell the caller something (events, and internal errors caught where throwing
 * would end the process). The face implements it; stages hold it instead of the face.
 */
export interface Pipeline {
  readonly options: ResolvedOptions;
  readonly recorder: MetricsRecorder;
  readonly wakeup: Wakeup;
  /** Emits an event; a listener that throws is reported, never unwinds the caller. */
  notify<K extends keyof ProducerEvents>(event: K, ...args: ProducerEvents[K]): void;
  /** Reports a bug caught where throwing would end the process (logger error, `warning` event). */
  reportInternalError(where: string, error: unknown): string;
}
