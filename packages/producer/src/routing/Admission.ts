import { setImmediate as yieldToIo } from 'node:timers/promises';
import type { RecordLimits } from '../collection/RecordLimits.js';
import type { Scheduler } from '../collection/Scheduler.js';
import { ProducerClosedError, ProducerError, ServiceError, ValidationError } from '../errors.js';
import type { Pipeline } from '../pipeline.js';
import type { RecordBatch } from '../settlement/RecordBatch.js';
import { admitted } from '../settlement/RecordLifecycle.js';
import type { Settlement } from '../settlement/Settlement.js';
import type { ProducerRecord, PutResult } from '../types.js';
import { type ValidRecord, validateRecord } from '../validation.js';
import type { ShardRouter } from './ShardRouter.js';

// Hot path, one per put: `put` validates into this one object instead of allocating a result per record.
const NO_DATA = new Uint8Array(0);
/** The one record `put` validates into (validation and admission are synchronous, so one suffices). */
export const scratch: ValidRecord = { partitionKey: '', explicitHashKey: undefined, data: NO_DATA, bytes: 0 };
const noop = (): void => undefined;
// Records a batch admits before letting I/O run (admission is synchronous within a run).
const ADMIT_RUN = 4_096;

/** A validation failure as thrown by `validateRecord` (a bug elsewhere would not be a ProducerError). */
function asProducerError(error: unknown): ProducerError {
  if (error instanceof ProducerError) return error;
  return new ValidationError(error instanceof Error ? error.message : String(error), error);
}

/** What admission needs besides the pipeline. */
export interface AdmissionDeps {
  settlement: Settlement;
  router: ShardRouter;
  limits: RecordLimits;
  scheduler: Scheduler;
  isClosed: () => boolean;
}

/**
 * Where records enter the pipeline: a validated record becomes a `PendingRecord`, is counted against the
 * buffer bounds, and waits in its shard's buffer. Batches (`putMany`, `putEach`) are admitted in order,
 * waiting for room instead of being refused.
 */
export class Admission {
  // What `admit` uses, held directly: it runs once per record.
  private readonly settlement: Settlement;
  private readonly router: ShardRouter;
  private readonly scheduler: Scheduler;
  private readonly ttlMs: number;

  constructor(
    private readonly pipeline: Pipeline,
    private readonly deps: AdmissionDeps,
  ) {
    this.settlement = deps.settlement;
    this.router = deps.router;
    this.scheduler = deps.scheduler;
    this.ttlMs = pipeline.options.recordTtlMs;
  }

  /** Drops the caller's payload from the scratch record (it must not keep it alive). */
  clear(valid: ValidRecord): void {
    valid.data = NO_DATA;
  }

  /**
   * Admits a batch's records in order, waiting for buffer room whenever the next record does not fit: one wait
   * (one promise) per time the buffer is full, not per record. Never rejects: a bug fails the records it had
   * not buffered yet (retriable), as the scheduler's tick does.
   */
  async admitAll(records: readonly ProducerRecord[], batch: RecordBatch): Promise<void> {
    const progress = { index: 0 };
    try {
      await this.admitFrom(records, batch, progress);
    } catch (error) {
      const message = this.pipeline.reportInternalError('while buffering a batch', error);
      for (let index = progress.index; index < records.length; index++) {
        batch.fail(
          index,
          new ServiceError('InternalProducerError', message, { retriable: true, cause: error }),
        );
      }
    }
  }

  private async admitFrom(
    records: readonly ProducerRecord[],
    batch: RecordBatch,
    progress: { index: number },
  ): Promise<void> {
    const { settlement, limits, isClosed } = this.deps;
    const aggregation = this.pipeline.options.aggregation;
    const valid = scratch;
    let index = 0;
    while (index < records.length) {
      if (isClosed()) {
        for (; index < records.length; index++) batch.fail(index, new ProducerClosedError());
        progress.index = index;
        return;
      }
      // One clock read per run of admissions: records admitted together share it.
      const now = Date.now();
      const runEnd = Math.min(records.length, index + ADMIT_RUN);
      for (; index < runEnd; index++) {
        progress.index = index;
        try {
          validateRecord(
            records[index] as ProducerRecord,
            limits.recordLimit(),
            aggregation,
            valid,
            limits.limitName,
          );
        } catch (error) {
          batch.fail(index, asProducerError(error));
          continue;
        }
        if (!settlement.hasCapacity(valid.bytes)) break;
        this.admit(valid, now, noop, noop, batch, index);
      }
      progress.index = index;
      if (index === records.length) return;
      if (index < runEnd) {
        // The buffer is full: wait for room for this record, then check it again.
        const bytes = valid.bytes;
        valid.data = NO_DATA;
        await settlement.waitForCapacity(bytes, undefined);
      } else {
        // A long batch lets I/O (and the producer's own sending) run between runs.
        await yieldToIo();
      }
    }
  }

  /** Buffers a validated record (read from `valid`, which is cleared) and wakes the loop when it is due. */
  admit(
    valid: ValidRecord,
    now: number,
    resolve: (result: PutResult) => void,
    reject: (error: Error) => void,
    batch: RecordBatch | undefined,
    slot: number,
  ): void {
    const settlement = this.settlement;
    const pending = admitted(settlement.nextSeq++, valid, now, this.ttlMs, resolve, reject, batch, slot);
    valid.data = NO_DATA; // the scratch object must not keep the caller's payload alive
    settlement.admit(pending);
    const buffer = this.router.route(pending);
    buffer.push(pending);
    this.scheduler.buffered(buffer, now);
  }
}
