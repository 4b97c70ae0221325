import type { ProducerLogger } from './types.js';

// The producer calls user code (event listeners, the logger) in the middle of its own bookkeeping. Code that
// throws there must not leave it half-way through an update (records re-buffered and failed, a shard map
// loaded but nothing re-routed, parked records never settled), so such errors are reported, not propagated.

/** Reports an error thrown by user code as a process warning (visible, never fatal). */
export function reportUserCodeError(what: string, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  process.emitWarning(`${what} threw: ${message}`, { code: 'SHARDLINE_PRODUCER_USER_CODE_ERROR' });
}

/**
 * The logger with every method present and guarded: a level the caller's logger lacks is skipped, and a
 * logger that throws is reported and otherwise ignored.
 */
export function guardLogger(logger: ProducerLogger | undefined): Required<ProducerLogger> | undefined {
  if (logger === undefined) return undefined;
  const guard =
    (level: keyof ProducerLogger) =>
    (message: string, fields?: Record<string, unknown>): void => {
      try {
        logger[level]?.(message, fields);
      } catch (error) {
        reportUserCodeError(`the producer's logger.${level}`, error);
      }
    };
  return { debug: guard('debug'), info: guard('info'), warn: guard('warn'), error: guard('error') };
}
