import type { ConsumerError } from './errors.js';

/** A user record the processor keeps failing on: its position and failed attempts so far. */
export interface FailingRecordRef {
  sequenceNumber: string;
  subSequenceNumber: number;
  attempts: number;
}

/** Every event the consumer emits and its payload. */
export interface ConsumerEvents {
  /** The worker started (table ready, first shard sync done). */
  started: { workerId: string };
  /** The worker stopped; every lease it held has been released or lost. */
  stopped: { workerId: string };
  /**
   * This worker took a lease: unowned, expired, or handed over by its owner. `stolen` only when a live owner
   * did not hand over an asked-for lease within `handoffTimeoutMs` and it was taken anyway.
   */
  leaseAcquired: { shardId: string; stolen: boolean };
  /**
   * A graceful handoff started (KCL 3.x `checkpointOwner`): emitted by the worker that asked (`to` is itself)
   * and by the owner when it learns of it (`from` is itself).
   */
  handoffRequested: { shardId: string; from: string; to: string };
  /** This worker finished its batch, checkpointed and transferred the lease to the worker that asked for it. */
  leaseHandedOff: { shardId: string; to: string };
  /** This worker lost a lease: `taken` by another worker, or `expired` because renewals failed. */
  leaseLost: { shardId: string; reason: 'taken' | 'expired' };
  /** This worker gave a lease up (shard finished, stop(), or its processor could not be created). */
  leaseReleased: { shardId: string };
  /**
   * This worker deleted a lease from the table (lease cleanup): `finished` when the shard was read to its end
   * and every child's lease is checkpointed past its start, `garbage` when Kinesis no longer has the shard.
   */
  leaseDeleted: { shardId: string; reason: 'finished' | 'garbage' };
  /** A shard was read to its end and checkpointed at SHARD_END; its children may now start. */
  shardEnded: { shardId: string; childShardIds: string[] };
  /** A checkpoint was written. */
  checkpoint: { shardId: string; sequenceNumber: string; subSequenceNumber: number };
  /**
   * The processor (or the `deadLetter` hook: code `DEAD_LETTER_FAILED`) threw. `attempt` counts the failed
   * calls on this shard since the last one that succeeded (the backoff grows with it; for the hook, its
   * failed calls for that record). `record` is the
   * failing record once known (named by the processor, found by halving the batch, or being dead-lettered)
   * with its failed attempts so far. `willRetry` says whether the processor is given that record again
   * (false when it goes to `deadLetter` or is skipped, or when the consumer is stopping).
   */
  processingError: {
    shardId: string;
    error: ConsumerError;
    attempt: number;
    willRetry: boolean;
    record?: FailingRecordRef;
  };
  /** `onProcessingFailure: 'skip'`: one user record was moved past after failing `maxAttempts` times. */
  recordSkipped: FailingRecordRef & { shardId: string; partitionKey: string; error: ConsumerError };
  /** The `deadLetter` hook accepted a record that failed `maxAttempts` times; it is checkpointed past. */
  recordDeadLettered: FailingRecordRef & { shardId: string };
  /**
   * The shard cannot move past a record: it failed `maxAttempts` times and is being retried (default
   * `'retry'` policy), or the `deadLetter` hook is failing for it. Emitted at that point and again on each
   * further failed attempt. `blockedForMs` is the time since the record first failed.
   */
  shardBlocked: FailingRecordRef & { shardId: string; blockedForMs: number };
  /**
   * A blocked shard moved on: its record was processed or dead-lettered, or this worker stopped consuming
   * the shard (`stop()`, lease lost; the next owner starts at the same record).
   */
  shardUnblocked: FailingRecordRef & {
    shardId: string;
    blockedForMs: number;
    resolution: 'processed' | 'dead-lettered' | 'stopped';
  };
  /** User records dropped because their hash key is outside the shard's range (after a reshard). */
  recordsOutOfRange: { shardId: string; count: number; delivered: boolean };
  /**
   * A background operation failed and will be retried (renew, take, sync, fetch (`getRecords`, or with fan-out
   * `subscribeToShard` and `registerStreamConsumer`), release; `checkpoint` when
   * the checkpoint past a dead-lettered or skipped record failed: the next checkpoint covers it).
   */
  error: { operation: string; error: unknown; shardId?: string };
}

export type ConsumerEventName = keyof ConsumerEvents;
export type ConsumerListener<E extends ConsumerEventName> = (payload: ConsumerEvents[E]) => void;

/**
 * A small typed emitter. `has()` lets hot paths skip building payloads nobody listens to; a listener that
 * throws is isolated (it cannot break the worker). Unlike Node's EventEmitter an unheard `error` is not
 * thrown.
 */
export class TypedEvents {
  readonly #listeners = new Map<ConsumerEventName, Set<(payload: never) => void>>();

  on<E extends ConsumerEventName>(event: E, listener: ConsumerListener<E>): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as (payload: never) => void);
    return () => this.off(event, listener);
  }

  off<E extends ConsumerEventName>(event: E, listener: ConsumerListener<E>): void {
    this.#listeners.get(event)?.delete(listener as (payload: never) => void);
  }

  has(event: ConsumerEventName): boolean {
    return (this.#listeners.get(event)?.size ?? 0) > 0;
  }

  emit<E extends ConsumerEventName>(event: E, payload: ConsumerEvents[E] | (() => ConsumerEvents[E])): void {
    const set = this.#listeners.get(event);
    if (!set || set.size === 0) return;
    const value = typeof payload === 'function' ? payload() : payload;
    for (const listener of set) {
      try {
        (listener as ConsumerListener<E>)(value);
      } catch {
        // A faulty listener must not take the worker down.
      }
    }
  }
}
