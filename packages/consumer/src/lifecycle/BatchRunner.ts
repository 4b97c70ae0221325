import type { UserRecord } from '@shardline/aggregation';
import { backoffDelay, sleep } from '../backoff.js';
import {
  CheckpointFailedError,
  type ConsumerError,
  DeadLetterFailedError,
  failedRecordOf,
  LeaseLostError,
  ProcessorError,
} from '../errors.js';
import type { FailingRecordRef, TypedEvents } from '../events.js';
import type { Counters, FailingRecord } from '../metrics.js';
import type { ResolvedOptions } from '../options.js';
import type { RecordProcessor, ShardContext } from '../processor.js';
import { compareExtended, type ExtendedSequenceNumber } from '../types.js';
import type { ShardCheckpointer } from './Checkpointer.js';

/** How {@link BatchRunner.run} ended: every record done, or stopped (`stop()`, lease lost) before that. */
export type BatchOutcome = 'ok' | 'interrupted' | 'lease-lost';

/** What a {@link BatchRunner} needs from its shard consumer. */
export interface BatchRunnerDeps {
  /** The lease key, as events name the shard (the shard id in a single-stream application). */
  shardId: string;
  /** The shard as the processor is told of it (with its stream). @defaultValue `{ shardId }` */
  context?: ShardContext | undefined;
  processor: RecordProcessor;
  checkpointer: ShardCheckpointer;
  options: Pick<ResolvedOptions, 'processingRetry' | 'onProcessingFailure' | 'deadLetter' | 'logger'>;
  events: TypedEvents;
  counters: Counters;
  /** Aborted on stop() or a lost lease: ends every backoff at once. */
  signal: AbortSignal;
  isStopping(): boolean;
  isLeaseLost(): boolean;
  /** Records whose processing completed (for the processed counters). */
  onProcessed(records: readonly UserRecord[]): void;
  /** Wall clock (epoch ms). @defaultValue `Date.now` */
  now?: () => number;
}

/** The record the processor keeps failing on. `index` is its position in the batch being run. */
interface Failing {
  index: number;
  record: UserRecord;
  attempts: number;
  firstFailedAt: number;
  lastError: unknown;
  blocked: boolean;
}

/**
 * Runs one batch of user records through the processor: the poison-record policy.
 *
 * The processor is handed a window of the batch's records not yet done: the whole rest of the batch, unless
 * a failure is being narrowed down. After a failed call:
 * - The failing record is *named* when the processor threw a `RecordFailedError`, or checkpointed inside the
 *   window before throwing (the first record after that checkpoint). The records before it are done (never
 *   handed out again) and the next window starts at it, with the rest of the batch.
 * - A retry that starts at the record named or isolated before and fails without naming another counts
 *   against that record again (a processor that checkpoints before throwing cannot checkpoint anything when
 *   its first record fails).
 * - Otherwise it is *unknown*: the window is halved (as Lambda's BisectBatchOnFunctionError), first half
 *   first; a half that succeeds is done, the other half is tried next, and a window of one record that
 *   fails *isolates* that record, which is then retried on its own. Once that record is settled, the rest
 *   of the batch goes out whole again.
 * - A failed checkpoint write (`CheckpointFailedError`) is nobody's record: the same window is retried.
 *
 * Failures are counted per named or isolated record. Every failure is followed by a backoff
 * (`backoffDelay(failed calls since the last success, baseDelayMs, maxDelayMs)`). When a record reaches
 * `maxAttempts`, the `deadLetter` hook gets it (retried with backoff until it resolves), or with `'skip'` it
 * is moved past; either way it is checkpointed past and the batch goes on. With `'retry'` (the default) it
 * is retried at the capped backoff for as long as this worker holds the lease, and the shard is reported
 * blocked. Isolating a record takes at most about log2(batch size) failed calls; state is a few numbers per
 * halving level.
 *
 * Checkpoint range: each window is marked delivered before the call (so `checkpoint()` there covers exactly
 * the window), and after a failure the delivered range is rewound to the last record done, so neither a
 * retry nor `shutdownRequested` can checkpoint a record that was not processed.
 */
export class BatchRunner {
  readonly #deps: BatchRunnerDeps;
  readonly #now: () => number;
  readonly #context: ShardContext;
  #failing: Failing | undefined;

  constructor(deps: BatchRunnerDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
    this.#context = deps.context ?? { shardId: deps.shardId };
  }

  /** The record being failed on, for `metrics()`. */
  get failingRecord(): FailingRecord | undefined {
    const f = this.#failing;
    if (!f) return undefined;
    return { ...position(f.record), attempts: f.attempts, failingSince: f.firstFailedAt };
  }

  /** When the shard became blocked (its failing record's first failure), for `metrics()`. */
  get blockedSince(): number | undefined {
    return this.#failing?.blocked ? this.#failing.firstFailedAt : undefined;
  }

  /** The shard consumer is ending: a blocked shard is no longer blocked here. */
  close(): void {
    this.#resolve('stopped');
  }

  async run(records: UserRecord[], millisBehindLatest: number | undefined): Promise<BatchOutcome> {
    const { checkpointer, processor, shardId, options } = this.#deps;
    const { maxAttempts, baseDelayMs, maxDelayMs } = options.processingRetry;
    /** First record not done. */
    let start = 0;
    /** Ends of the windows still to try while halving, innermost last; empty: the window is the rest. */
    const ends: number[] = [];
    /** The last record done (processed, dead-lettered or skipped), or what was delivered before the batch. */
    let doneThrough = checkpointer.largestDelivered;
    /** Failed calls since the last call that succeeded: drives the backoff. */
    let failures = 0;
    const advance = (to: number): void => {
      start = to;
      if (this.#failing && this.#failing.index < start) {
        // The record that was failing passed: the halving that found it is over, the rest goes out whole.
        this.#resolve('processed');
        ends.length = 0;
      }
      while (ends.length > 0 && (ends[ends.length - 1] as number) <= start) ends.pop();
    };

    while (start < records.length) {
      if (this.#deps.isStopping()) return this.#stopped(doneThrough);
      const end = ends[ends.length - 1] ?? records.length;
      const window = start === 0 && end === records.length ? records : records.slice(start, end);
      const checkpointedBefore = checkpointer.lastCheckpointed;
      checkpointer.markDelivered(window, (i) => window[i]?.aggregated === true);
      let error: unknown;
      let failed = false;
      try {
        await processor.processRecords({
          ...this.#context,
          records: window,
          checkpointer,
          millisBehindLatest,
        });
      } catch (cause) {
        failed = true;
        error = cause;
      }
      if (!failed) {
        this.#deps.onProcessed(window);
        doneThrough = window[window.length - 1];
        failures = 0;
        advance(end);
        continue;
      }
      if (error instanceof LeaseLostError || this.#deps.isLeaseLost()) return this.#stopped(doneThrough);
      failures++;

      // Which record failed?
      const done = this.#doneBeforeFailure(error, window, checkpointedBefore);
      let failingIndex: number | undefined;
      if (done !== undefined) {
        if (done > 0) {
          const processed = window.slice(0, done);
          this.#deps.onProcessed(processed);
          doneThrough = processed[processed.length - 1];
        }
        ends.length = 0; // from the failing record on, the whole rest of the batch
        advance(start + done);
        if (done < window.length && !(error instanceof CheckpointFailedError)) failingIndex = start;
      } else if (error instanceof CheckpointFailedError) {
        // A checkpoint write failed after retries: not a record's fault, the same window is tried again.
      } else if (window.length === 1 || this.#failing?.index === start) {
        // Alone, or a retry starting at the record that failed last time (named then, silent now): that one.
        failingIndex = start;
      } else {
        ends.push(start + Math.ceil(window.length / 2));
      }
      checkpointer.rewindDelivered(doneThrough);

      let failing: Failing | undefined;
      if (failingIndex !== undefined) {
        failing = this.#failedOn(failingIndex, records[failingIndex] as UserRecord, error);
      }
      const exhausted = failing !== undefined && failing.attempts >= maxAttempts;
      const moveOn =
        exhausted && (options.deadLetter !== undefined || options.onProcessingFailure === 'skip');
      // Not retried: a record that moves on, or a window the processor checkpointed whole before throwing.
      const willRetry = !moveOn && done !== window.length && !this.#deps.isStopping();
      this.#reportError(new ProcessorError(shardId, error), failures, willRetry, failing);
      if (this.#deps.isStopping()) return this.#stopped(doneThrough);

      if (failing && moveOn) {
        const outcome = options.deadLetter ? await this.#deadLetter(failing) : this.#skip(failing);
        if (outcome !== 'ok') return this.#stopped(doneThrough);
        const passed = await this.#checkpointPast(failing.record);
        if (passed !== 'ok') return this.#stopped(doneThrough);
        doneThrough = failing.record;
        failures = 0;
        this.#resolve(options.deadLetter ? 'dead-lettered' : 'processed');
        ends.length = 0;
        advance(failing.index + 1);
        continue;
      }
      if (exhausted) this.#block();
      if (!(await sleep(backoffDelay(failures, baseDelayMs, maxDelayMs), this.#deps.signal))) {
        return this.#stopped(doneThrough);
      }
    }
    return 'ok';
  }

  /**
   * How many leading records of `window` the failed call did (0..length), when the processor said so: a
   * `RecordFailedError` naming a record of the window, or a checkpoint written into the window during the
   * call (the later of the two counts). `undefined` when the failing record is unknown.
   */
  #doneBeforeFailure(
    error: unknown,
    window: readonly UserRecord[],
    checkpointedBefore: ExtendedSequenceNumber | undefined,
  ): number | undefined {
    const first = window[0];
    const last = window[window.length - 1];
    if (!first || !last) return undefined;
    let done: number | undefined;
    const named = failedRecordOf(error);
    // A record before the window counts as the window's first (nothing in it done); one after it is no
    // record of this call, so the failing record stays unknown.
    if (named && compareExtended(named, last) <= 0) {
      done = window.findIndex((record) => compareExtended(record, named) >= 0);
    }
    const checkpointed = this.#deps.checkpointer.lastCheckpointed;
    if (
      checkpointed &&
      (!checkpointedBefore || compareExtended(checkpointed, checkpointedBefore) > 0) &&
      compareExtended(checkpointed, first) >= 0
    ) {
      const after = window.findIndex((record) => compareExtended(record, checkpointed) > 0);
      done = Math.max(done ?? 0, after < 0 ? window.length : after);
    }
    return done;
  }

  #failedOn(index: number, record: UserRecord, error: unknown): Failing {
    const current = this.#failing;
    if (current && current.index === index) {
      current.attempts++;
      current.lastError = error;
      return current;
    }
    this.#resolve('processed'); // a different record: the previous one is done
    const failing: Failing = {
      index,
      record,
      attempts: 1,
      firstFailedAt: this.#now(),
      lastError: error,
      blocked: false,
    };
    this.#failing = failing;
    return failing;
  }

  /** Calls the `deadLetter` hook until it resolves; a failure is reported, blocks the shard, is retried. */
  async #deadLetter(failing: Failing): Promise<BatchOutcome> {
    const { shardId, options, counters, events } = this.#deps;
    const hook = options.deadLetter;
    if (!hook) return 'ok';
    const { baseDelayMs, maxDelayMs } = options.processingRetry;
    for (let attempt = 1; ; attempt++) {
      try {
        await hook([failing.record], failing.lastError, {
          ...this.#context,
          attempts: failing.attempts,
          firstFailedAt: new Date(failing.firstFailedAt),
        });
        counters.recordsDeadLettered++;
        events.emit('recordDeadLettered', () => ({ shardId, ...this.#ref(failing) }));
        options.logger.warn?.('record dead-lettered', { shardId, ...this.#ref(failing) });
        return 'ok';
      } catch (cause) {
        if (this.#deps.isLeaseLost()) return 'lease-lost';
        const willRetry = !this.#deps.isStopping();
        this.#reportError(
          new DeadLetterFailedError(shardId, failing.record, cause),
          attempt,
          willRetry,
          failing,
        );
        if (!willRetry) return 'interrupted';
        this.#block();
        if (!(await sleep(backoffDelay(attempt, baseDelayMs, maxDelayMs), this.#deps.signal))) {
          return this.#deps.isLeaseLost() ? 'lease-lost' : 'interrupted';
        }
      }
    }
  }

  #skip(failing: Failing): BatchOutcome {
    const { shardId, counters, events, options } = this.#deps;
    counters.recordsSkipped++;
    events.emit('recordSkipped', () => ({
      shardId,
      ...this.#ref(failing),
      partitionKey: failing.record.partitionKey,
      error: new ProcessorError(shardId, failing.lastError),
    }));
    options.logger.warn?.('record skipped', { shardId, ...this.#ref(failing) });
    return 'ok';
  }

  /**
   * Checkpoints through a dead-lettered or skipped record, so that no restart hands it out again. A write
   * that fails after its retries is reported and left to the next checkpoint, which covers it.
   */
  async #checkpointPast(record: UserRecord): Promise<BatchOutcome> {
    const { checkpointer, shardId, events } = this.#deps;
    checkpointer.markDelivered([record], () => record.aggregated);
    try {
      await checkpointer.checkpointRecord(record);
    } catch (error) {
      if (error instanceof LeaseLostError || this.#deps.isLeaseLost()) return 'lease-lost';
      events.emit('error', { operation: 'checkpoint', error, shardId });
    }
    return 'ok';
  }

  #block(): void {
    const failing = this.#failing;
    if (!failing) return;
    const { shardId, counters, events, options } = this.#deps;
    if (!failing.blocked) {
      failing.blocked = true;
      counters.shardsBlocked++;
    }
    const blockedForMs = this.#now() - failing.firstFailedAt;
    events.emit('shardBlocked', () => ({ shardId, ...this.#ref(failing), blockedForMs }));
    options.logger.warn?.('shard blocked', { shardId, ...this.#ref(failing), blockedForMs });
  }

  /** The failing record is settled (or no longer ours): clears it, unblocking the shard if it was blocked. */
  #resolve(resolution: 'processed' | 'dead-lettered' | 'stopped'): void {
    const failing = this.#failing;
    if (!failing) return;
    this.#failing = undefined;
    if (!failing.blocked) return;
    const { shardId, counters, events, options } = this.#deps;
    counters.shardsBlocked--;
    const blockedForMs = this.#now() - failing.firstFailedAt;
    events.emit('shardUnblocked', () => ({ shardId, ...this.#ref(failing), blockedForMs, resolution }));
    options.logger.info?.('shard unblocked', { shardId, ...this.#ref(failing), resolution });
  }

  #reportError(
    error: ConsumerError,
    attempt: number,
    willRetry: boolean,
    failing: Failing | undefined,
  ): void {
    const { shardId, counters, events, options } = this.#deps;
    counters.processingErrors++;
    const record = failing && this.#ref(failing);
    events.emit('processingError', { shardId, error, attempt, willRetry, ...(record ? { record } : {}) });
    options.logger.warn?.('processor failed', { shardId, attempt, willRetry, code: error.code, ...record });
  }

  /** Ends a run early: takes back what was delivered but not done, so no later checkpoint can cover it. */
  #stopped(doneThrough: ExtendedSequenceNumber | undefined): BatchOutcome {
    this.#deps.checkpointer.rewindDelivered(doneThrough);
    return this.#deps.isLeaseLost() ? 'lease-lost' : 'interrupted';
  }

  #ref(failing: Failing): FailingRecordRef {
    return { ...position(failing.record), attempts: failing.attempts };
  }
}

function position(record: ExtendedSequenceNumber): ExtendedSequenceNumber {
  return { sequenceNumber: record.sequenceNumber, subSequenceNumber: record.subSequenceNumber };
}
