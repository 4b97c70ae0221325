import { retry } from '../backoff.js';
import {
  CheckpointFailedError,
  CheckpointOutOfRangeError,
  ConsumerError,
  LeaseLostError,
} from '../errors.js';
import { SHARD_END } from '../leases/Lease.js';
import type { LeaseRenewer } from '../leases/LeaseRenewer.js';
import type { LeaseStore } from '../leases/LeaseStore.js';
import type { Checkpointer } from '../processor.js';
import { compareExtended, type ExtendedSequenceNumber, isSequenceNumber } from '../types.js';

/** Options for {@link ShardCheckpointer}. */
export interface ShardCheckpointerOptions {
  shardId: string;
  workerId: string;
  store: LeaseStore;
  renewer: LeaseRenewer;
  /** The checkpoint the shard started from (sequence number or sentinel) and its sub-sequence number. */
  initial: { checkpoint: string; subSequenceNumber: number };
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  onCheckpoint?: (checkpoint: string, subSequenceNumber: number) => void;
}

/** Bound on remembered aggregate sizes (see `#lastSubOf`); beyond it the oldest are forgotten. */
const MAX_TRACKED_AGGREGATES = 100_000;

/**
 * The fenced checkpointer of one shard consumer. Checkpoints are serialized, validated against the range
 * [last checkpoint, largest delivered], and written with a condition on the lease counter through the
 * renewer, so a worker that lost the lease can never overwrite the new owner's progress.
 */
export class ShardCheckpointer implements Checkpointer {
  readonly #options: ShardCheckpointerOptions;
  #last: ExtendedSequenceNumber | undefined;
  #lastSentinel: string | undefined;
  #largestDelivered: ExtendedSequenceNumber | undefined;
  /** Last sub-sequence number of each delivered aggregate, so `checkpoint(seq)` covers the whole record. */
  readonly #lastSubOf = new Map<string, number>();
  #chain: Promise<unknown> = Promise.resolve();
  #shardEnded = false;
  #closed = false;

  constructor(options: ShardCheckpointerOptions) {
    this.#options = options;
    const { checkpoint, subSequenceNumber } = options.initial;
    if (isSequenceNumber(checkpoint)) this.#last = { sequenceNumber: checkpoint, subSequenceNumber };
    else this.#lastSentinel = checkpoint;
  }

  /** The last checkpoint written (or started from): a sequence number or a sentinel. */
  get lastCheckpoint(): { checkpoint: string; subSequenceNumber: number } {
    if (this.#last)
      return { checkpoint: this.#last.sequenceNumber, subSequenceNumber: this.#last.subSequenceNumber };
    return { checkpoint: this.#lastSentinel ?? 'TRIM_HORIZON', subSequenceNumber: 0 };
  }

  get largestDelivered(): ExtendedSequenceNumber | undefined {
    return this.#largestDelivered;
  }

  /** The last sequence-number checkpoint written (or started from); `undefined` at a sentinel. */
  get lastCheckpointed(): ExtendedSequenceNumber | undefined {
    return this.#last && { ...this.#last };
  }

  /**
   * Called before records reach the processor: `largestDelivered` becomes the last of them (also when that
   * is lower than before: a retry hands out fewer records than a failed call, see `rewindDelivered`).
   */
  markDelivered(records: readonly ExtendedSequenceNumber[], aggregated: (index: number) => boolean): void {
    for (let i = 0; i < records.length; i++) {
      const record = records[i] as ExtendedSequenceNumber;
      if (aggregated(i)) {
        const known = this.#lastSubOf.get(record.sequenceNumber) ?? -1;
        if (record.subSequenceNumber > known)
          this.#lastSubOf.set(record.sequenceNumber, record.subSequenceNumber);
      }
    }
    while (this.#lastSubOf.size > MAX_TRACKED_AGGREGATES) {
      const oldest = this.#lastSubOf.keys().next().value;
      if (oldest === undefined) break;
      this.#lastSubOf.delete(oldest);
    }
    const last = records[records.length - 1];
    if (last) this.#largestDelivered = { ...last };
  }

  /**
   * Takes back a batch whose processing failed: `largestDelivered` returns to `previous` (what it was before
   * the batch), or to the last checkpoint if the processor checkpointed inside the batch, so a later
   * `checkpoint()` (for example in `shutdownRequested`) cannot cover records that were not processed.
   */
  rewindDelivered(previous: ExtendedSequenceNumber | undefined): void {
    let to = previous;
    if (this.#last && (!to || compareExtended(this.#last, to) > 0)) to = this.#last;
    this.#largestDelivered = to && { ...to };
  }

  /** From now on `checkpoint()` without arguments means SHARD_END. */
  enterShardEnd(): void {
    this.#shardEnded = true;
  }

  /** `shardEnded` did not complete: `checkpoint()` without arguments means "all delivered" again. */
  leaveShardEnd(): void {
    this.#shardEnded = false;
  }

  /** Fences this checkpointer for good (lease lost, released, or the shard consumer finished). */
  close(): void {
    this.#closed = true;
  }

  get isAtShardEnd(): boolean {
    return this.#lastSentinel === SHARD_END;
  }

  checkpointRecord(record: ExtendedSequenceNumber): Promise<void> {
    return this.checkpoint(record.sequenceNumber, record.subSequenceNumber);
  }

  checkpoint(sequenceNumber?: string, subSequenceNumber?: number): Promise<void> {
    const run = this.#chain.then(() => this.#checkpoint(sequenceNumber, subSequenceNumber));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #checkpoint(
    sequenceNumber: string | undefined,
    subSequenceNumber: number | undefined,
  ): Promise<void> {
    const { shardId } = this.#options;
    if (this.#closed) throw new LeaseLostError(shardId);
    if (sequenceNumber === undefined && this.#shardEnded) {
      await this.#write(SHARD_END, 0);
      this.#last = undefined;
      this.#lastSentinel = SHARD_END;
      return;
    }
    if (this.#lastSentinel === SHARD_END) {
      throw new CheckpointOutOfRangeError(`shard ${shardId} is already checkpointed at SHARD_END`);
    }
    let target: ExtendedSequenceNumber;
    if (sequenceNumber === undefined) {
      if (!this.#largestDelivered) return; // nothing delivered yet: nothing to record
      target = this.#largestDelivered;
    } else {
      if (!isSequenceNumber(sequenceNumber)) {
        throw new CheckpointOutOfRangeError(`"${sequenceNumber}" is not a sequence number`);
      }
      if (
        subSequenceNumber !== undefined &&
        !(Number.isInteger(subSequenceNumber) && subSequenceNumber >= 0)
      ) {
        throw new CheckpointOutOfRangeError(`subSequenceNumber must be a non-negative integer`);
      }
      let sub = subSequenceNumber ?? this.#lastSubOf.get(sequenceNumber) ?? 0;
      // Without a sub-sequence number: the aggregate's user records delivered so far (a retry may have
      // handed out only the first part of an aggregate whose later records were delivered before).
      const delivered = this.#largestDelivered;
      if (
        subSequenceNumber === undefined &&
        delivered?.sequenceNumber === sequenceNumber &&
        sub > delivered.subSequenceNumber
      ) {
        sub = delivered.subSequenceNumber;
      }
      target = { sequenceNumber, subSequenceNumber: sub };
    }
    if (
      !this.#largestDelivered ||
      compareExtended(target, this.#largestDelivered) > 0 ||
      (this.#last && compareExtended(target, this.#last) < 0)
    ) {
      throw new CheckpointOutOfRangeError(
        `checkpoint ${target.sequenceNumber}/${target.subSequenceNumber} is outside [last checkpoint, last delivered] on ${shardId}`,
      );
    }
    if (this.#last && compareExtended(target, this.#last) === 0) return;
    await this.#write(target.sequenceNumber, target.subSequenceNumber);
    this.#last = { ...target };
    this.#lastSentinel = undefined;
    for (const seq of this.#lastSubOf.keys()) {
      if (BigInt(seq) <= BigInt(target.sequenceNumber)) this.#lastSubOf.delete(seq);
      else break; // insertion order is delivery order
    }
  }

  async #write(checkpoint: string, subSequenceNumber: number): Promise<void> {
    const { shardId, store, renewer, workerId, maxAttempts } = this.#options;
    let attempts = 0;
    try {
      await retry(
        async (attempt) => {
          attempts = attempt;
          // Checked at every attempt: the lease may have been lost or released during the backoff.
          if (this.#closed) throw new LeaseLostError(shardId);
          const written = await renewer.write(shardId, (lease) =>
            store.checkpoint(lease, workerId, checkpoint, subSequenceNumber),
          );
          if (!written) throw new LeaseLostError(shardId);
        },
        {
          attempts: maxAttempts,
          baseDelayMs: this.#options.backoffBaseMs,
          maxDelayMs: this.#options.backoffMaxMs,
          isRetriable: (error) =>
            !(error instanceof LeaseLostError) && !(error instanceof ConsumerError && !error.retriable),
        },
      );
    } catch (error) {
      if (error instanceof LeaseLostError) {
        this.#closed = true;
        throw error;
      }
      throw new CheckpointFailedError(`checkpoint on ${shardId} failed after ${attempts} attempts`, error);
    }
    this.#options.onCheckpoint?.(checkpoint, subSequenceNumber);
  }
}
