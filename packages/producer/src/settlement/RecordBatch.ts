import type { ProducerError } from '../errors.js';
import type { PutResult } from '../types.js';
import { reportUserCodeError } from '../userCode.js';

/**
 * Called once for each record of a `putEach` call when it settles: `error` undefined and `result` set when
 * Kinesis stored it, `error` set (and `result` undefined) when it failed. `index` is the record's position in
 * the array given to `putEach`.
 */
export type PutOutcomeCallback = (
  error: ProducerError | undefined,
  result: PutResult | undefined,
  index: number,
) => void;

/** What `putMany` resolves with. */
export interface PutManyResult {
  /** Records Kinesis stored. */
  succeeded: number;
  /** Records that failed (each with its error in `results`). */
  failed: number;
  /**
   * One entry per record, in the order given: the record's `PutResult`, or the `ProducerError` that failed it
   * (tell them apart with `instanceof ProducerError`).
   */
  results: Array<PutResult | ProducerError>;
}

/**
 * The records of one `putMany`/`putEach` call between admission and settlement: each record holds this batch
 * and its index (a slot) instead of a promise and its two resolving functions, so the per-record cost of
 * settling is a callback call. Each slot is settled once (the producer's settlement guarantees it); the
 * batch counts them down and tells its owner when the last one has settled.
 */
export class RecordBatch {
  private remaining: number;

  constructor(
    size: number,
    private readonly onOutcome: PutOutcomeCallback,
    private readonly onSettled: () => void,
  ) {
    this.remaining = size;
    if (size === 0) onSettled();
  }

  /** Records of the batch not settled yet (admitted or not). */
  get pending(): number {
    return this.remaining;
  }

  succeed(index: number, result: PutResult): void {
    this.settle(undefined, result, index);
  }

  fail(index: number, error: ProducerError): void {
    this.settle(error, undefined, index);
  }

  private settle(error: ProducerError | undefined, result: PutResult | undefined, index: number): void {
    try {
      this.onOutcome(error, result, index);
    } catch (thrown) {
      // The caller's callback runs inside the producer's bookkeeping: report it, never unwind that.
      reportUserCodeError('a putEach outcome callback', thrown);
    }
    this.remaining -= 1;
    if (this.remaining === 0) this.onSettled();
  }
}

/** Collects a batch's outcomes into a `PutManyResult` and resolves it once every record has settled. */
export function collectOutcomes(size: number, resolve: (result: PutManyResult) => void): RecordBatch {
  const result: PutManyResult = { succeeded: 0, failed: 0, results: new Array(size) };
  const results = result.results;
  return new RecordBatch(
    size,
    (error, stored, index) => {
      if (error === undefined) {
        result.succeeded += 1;
        results[index] = stored as PutResult;
      } else {
        result.failed += 1;
        results[index] = error;
      }
    },
    () => resolve(result),
  );
}
