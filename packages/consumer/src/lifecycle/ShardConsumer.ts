import type { ChildShard } from '@aws-sdk/client-kinesis';
import type { HashKeyRange } from '@shardline/aggregation';
import { backoffDelay, sleep } from '../backoff.js';
import { LeaseLostError, ProcessorError, ShardEndNotCheckpointedError } from '../errors.js';
import type { TypedEvents } from '../events.js';
import { isFinished, type Lease } from '../leases/Lease.js';
import type { LeaseRenewer } from '../leases/LeaseRenewer.js';
import type { LeaseStore } from '../leases/LeaseStore.js';
import type { Counters, FailingRecord } from '../metrics.js';
import type { ResolvedOptions } from '../options.js';
import type { RecordProcessor } from '../processor.js';
import type { ShardRecordSource, StartingPosition } from '../retrieval/ShardRecordSource.js';
import { compareExtended, type ExtendedSequenceNumber, isSequenceNumber } from '../types.js';
import { BatchRunner } from './BatchRunner.js';
import { ShardCheckpointer } from './Checkpointer.js';
import { ConsumerStates, type ShardConsumerState } from './ConsumerStates.js';
import { Deaggregator } from './Deaggregator.js';

/** How a shard consumer ended; the coordinator releases the lease for every outcome but `lease-lost`. */
export type ShardConsumerOutcome = 'shard-ended' | 'lease-lost' | 'shutdown';

/** Everything a shard consumer needs from the worker. */
export interface ShardConsumerDeps {
  lease: Lease;
  options: ResolvedOptions;
  store: LeaseStore;
  renewer: LeaseRenewer;
  processor: RecordProcessor;
  events: TypedEvents;
  counters: Counters;
  hashKeyRange: HashKeyRange | undefined;
  /**
   * The record source of the shard, polling or fan-out: the shard consumer treats both alike (the choice is
   * the worker's, from the `retrieval` option).
   */
  createRecordSource(options: { shardId: string; start: StartingPosition }): ShardRecordSource;
  /** Creates the child leases found at shard end (parents' leases permitting) and records childShardIds. */
  onChildShards(shardId: string, children: readonly ChildShard[]): Promise<void>;
}

/** Attempts for bookkeeping writes at shard end (child leases, childShardIds) before moving on. */
const SHARD_END_WRITE_ATTEMPTS = 5;

/**
 * Drives one leased shard through the states of {@link ConsumerStates} (waiting-on-parents -> initializing ->
 * processing -> shard-ended | handing-off | shutting-down -> done). Calls into the processor never overlap
 * for one shard.
 */
export class ShardConsumer {
  readonly shardId: string;
  recordsProcessed = 0;
  bytesProcessed = 0;
  readonly #deps: ShardConsumerDeps;
  readonly #deaggregator: Deaggregator;
  readonly #abort = new AbortController();
  readonly #states: ConsumerStates;
  #source: ShardRecordSource | undefined;
  #checkpointer: ShardCheckpointer | undefined;
  #runner: BatchRunner | undefined;
  #leaseLost = false;
  #shutdownRequested = false;
  /** The stop is a graceful handoff to another worker rather than `stop()`. */
  #handoff = false;

  constructor(deps: ShardConsumerDeps) {
    this.#deps = deps;
    this.shardId = deps.lease.leaseKey;
    this.#states = new ConsumerStates(this.shardId);
    this.#deaggregator = new Deaggregator({
      hashKeyRange: deps.hashKeyRange,
      verifyChecksum: deps.options.verifyChecksum,
      outOfRange: deps.options.outOfRangeRecords,
      onOutOfRange: (count, delivered) => {
        if (delivered) deps.counters.recordsOutOfRangeDelivered += count;
        else deps.counters.recordsOutOfRangeDropped += count;
        deps.events.emit('recordsOutOfRange', { shardId: this.shardId, count, delivered });
      },
    });
  }

  /** User records outside this shard's hash range seen so far (delivered or dropped, per the option). */
  get recordsOutOfRange(): number {
    return this.#deaggregator.outOfRange;
  }

  get state(): ShardConsumerState {
    return this.#states.current;
  }

  get millisBehindLatest(): number | undefined {
    return this.#source?.millisBehindLatest;
  }

  get lastCheckpoint(): string {
    return this.#checkpointer?.lastCheckpoint.checkpoint ?? this.#deps.lease.checkpoint;
  }

  /** The record the processor keeps failing on, if any (see `BatchRunner`). */
  get failingRecord(): FailingRecord | undefined {
    return this.#runner?.failingRecord;
  }

  /** Set while the shard is blocked on its failing record. */
  get blockedSince(): number | undefined {
    return this.#runner?.blockedSince;
  }

  /** stop(): finish the batch in flight, then `shutdownRequested`. */
  requestShutdown(): void {
    this.#shutdownRequested = true;
    this.#interrupt();
  }

  /** Another worker asked for the lease: as `requestShutdown`, reported as `handing-off`. */
  requestHandoff(): void {
    this.#handoff = true;
    this.requestShutdown();
  }

  /** The renewer dropped the lease: stop, fence checkpoints, then `leaseLost`. */
  leaseLost(): void {
    this.#leaseLost = true;
    this.#checkpointer?.close();
    this.#interrupt();
  }

  async run(): Promise<ShardConsumerOutcome> {
    try {
      return await this.#run();
    } finally {
      this.#states.moveTo('done');
      this.#runner?.close();
      this.#checkpointer?.close();
      await this.#source?.stop();
    }
  }

  #stopping(): boolean {
    return this.#leaseLost || this.#shutdownRequested;
  }

  #interrupt(): void {
    this.#abort.abort();
    void this.#source?.stop();
  }

  async #run(): Promise<ShardConsumerOutcome> {
    const { lease, options, processor } = this.#deps;
    if (isFinished(lease)) return 'shard-ended';
    while (!(await this.#parentsFinished())) {
      if (this.#stopping()) return this.#finish(false);
      await sleep(options.parentPollIntervalMs, this.#abort.signal);
    }
    if (this.#stopping()) return this.#finish(false);

    this.#states.moveTo('initializing');
    const checkpointer = new ShardCheckpointer({
      shardId: this.shardId,
      workerId: options.workerId,
      store: this.#deps.store,
      renewer: this.#deps.renewer,
      initial: { checkpoint: lease.checkpoint, subSequenceNumber: lease.checkpointSubSequenceNumber },
      maxAttempts: 5,
      backoffBaseMs: 100,
      backoffMaxMs: 2_000,
      onCheckpoint: (sequenceNumber, subSequenceNumber) => {
        this.#deps.counters.checkpoints++;
        this.#deps.events.emit('checkpoint', { shardId: this.shardId, sequenceNumber, subSequenceNumber });
      },
    });
    this.#checkpointer = checkpointer;
    const runner = new BatchRunner({
      shardId: this.shardId,
      processor,
      checkpointer,
      options,
      events: this.#deps.events,
      counters: this.#deps.counters,
      signal: this.#abort.signal,
      isStopping: () => this.#stopping(),
      isLeaseLost: () => this.#leaseLost,
      onProcessed: (records) => {
        let bytes = 0;
        for (const record of records) bytes += record.data.byteLength;
        this.recordsProcessed += records.length;
        this.bytesProcessed += bytes;
        this.#deps.counters.recordsProcessed += records.length;
        this.#deps.counters.bytesProcessed += bytes;
      },
    });
    this.#runner = runner;
    const initialized = await this.#callWithRetry(() =>
      processor.initialize?.({
        shardId: this.shardId,
        startingSequenceNumber: lease.checkpoint,
        startingSubSequenceNumber: lease.checkpointSubSequenceNumber,
      }),
    );
    if (initialized !== 'ok') return this.#finish(false, initialized);

    // Resuming at a sequence number re-reads that record: its user records up to the checkpointed
    // sub-sequence number are dropped below, which is how a checkpoint inside an aggregate resumes.
    let skipThrough: ExtendedSequenceNumber | undefined = isSequenceNumber(lease.checkpoint)
      ? { sequenceNumber: lease.checkpoint, subSequenceNumber: lease.checkpointSubSequenceNumber }
      : undefined;
    const source = this.#deps.createRecordSource({ shardId: this.shardId, start: this.#startingPosition() });
    this.#source = source;
    if (this.#stopping()) return this.#finish(true);
    source.start();
    this.#states.moveTo('processing');
    for (;;) {
      const batch = await source.next();
      // A lease that could not be renewed for failoverTimeMs is given up here, before the next batch, rather
      // than at the next renewal tick (get() reports the loss, which sets #leaseLost).
      this.#deps.renewer.get(this.shardId);
      if (!batch || this.#stopping()) return this.#finish(true);
      let records = this.#deaggregator.deaggregate(batch.records);
      if (skipThrough) {
        const through = skipThrough;
        records = records.filter((record) => compareExtended(record, through) > 0);
        if (batch.records.length > 0) skipThrough = undefined; // the first record read is the checkpointed one
      }
      if (records.length > 0) {
        // Failures, retries, dead letters and skips are the runner's; a run that did not complete has taken
        // back what it delivered but did not finish, so `shutdownRequested` cannot checkpoint it.
        const result = await runner.run(records, batch.millisBehindLatest);
        if (result === 'interrupted') return this.#finish(true);
        if (result === 'lease-lost') return this.#finish(true, result);
      }
      if (batch.shardEnded) return this.#shardEnded(checkpointer, batch.childShards);
    }
  }

  /** Ends the consumer for a stop or a lost lease; `shutdownRequested` only if the processor was initialized. */
  async #finish(initialized: boolean, outcome?: 'interrupted' | 'lease-lost'): Promise<ShardConsumerOutcome> {
    if (this.#leaseLost || outcome === 'lease-lost') {
      this.#leaseLost = true;
      this.#checkpointer?.close();
      if (initialized) await this.#safely(() => this.#deps.processor.leaseLost?.({ shardId: this.shardId }));
      return 'lease-lost';
    }
    this.#states.moveTo(this.#handoff ? 'handing-off' : 'shutting-down');
    const checkpointer = this.#checkpointer;
    if (initialized && checkpointer) {
      await this.#safely(() =>
        this.#deps.processor.shutdownRequested?.({ shardId: this.shardId, checkpointer }),
      );
    }
    return this.#leaseLost ? 'lease-lost' : 'shutdown';
  }

  async #shardEnded(checkpointer: ShardCheckpointer, children: ChildShard[]): Promise<ShardConsumerOutcome> {
    this.#states.moveTo('shard-ended');
    const childShardIds = children.map((child) => child.ShardId ?? '').filter((id) => id !== '');
    // Child leases first, so that SHARD_END is never written for a shard whose children nobody will read.
    // If this keeps failing the periodic shard sync creates them.
    for (let attempt = 1; attempt <= SHARD_END_WRITE_ATTEMPTS; attempt++) {
      try {
        await this.#deps.onChildShards(this.shardId, children);
        break;
      } catch (error) {
        this.#deps.events.emit('error', { operation: 'createChildLeases', error, shardId: this.shardId });
        if (!(await sleep(backoffDelay(attempt, 200, 2_000), this.#abort.signal))) break;
      }
    }
    checkpointer.enterShardEnd();
    const result = await this.#callWithRetry(async () => {
      await this.#deps.processor.shardEnded({ shardId: this.shardId, childShardIds, checkpointer });
      if (!checkpointer.isAtShardEnd) throw new ShardEndNotCheckpointedError(this.shardId);
    });
    if (result !== 'ok') {
      // shardEnded did not complete, so `checkpoint()` in shutdownRequested must not write SHARD_END (the
      // next owner reads the shard end again and calls shardEnded there).
      if (!checkpointer.isAtShardEnd) checkpointer.leaveShardEnd();
      return this.#finish(true, result === 'interrupted' ? undefined : result);
    }
    this.#deps.events.emit('shardEnded', { shardId: this.shardId, childShardIds });
    return 'shard-ended';
  }

  /**
   * Calls `initialize` or `shardEnded`: a throw is reported (`processingError`) and retried with backoff
   * (capped at `processingRetry.maxDelayMs`) until it succeeds; a lost lease or a stop interrupts. Nothing
   * can be skipped here, and giving the lease up would only move the failure to another worker.
   */
  async #callWithRetry(call: () => unknown): Promise<'ok' | 'interrupted' | 'lease-lost'> {
    const { baseDelayMs, maxDelayMs } = this.#deps.options.processingRetry;
    for (let attempt = 1; ; attempt++) {
      try {
        await call();
        return 'ok';
      } catch (cause) {
        if (cause instanceof LeaseLostError || this.#leaseLost) return 'lease-lost';
        const error = new ProcessorError(this.shardId, cause);
        const willRetry = !this.#stopping();
        this.#deps.counters.processingErrors++;
        this.#deps.events.emit('processingError', { shardId: this.shardId, error, attempt, willRetry });
        this.#deps.options.logger.warn?.('processor failed', { shardId: this.shardId, attempt, willRetry });
        if (this.#stopping()) return 'interrupted';
        if (!(await sleep(backoffDelay(attempt, baseDelayMs, maxDelayMs), this.#abort.signal))) {
          return this.#leaseLost ? 'lease-lost' : 'interrupted';
        }
      }
    }
  }

  async #safely(call: () => unknown): Promise<void> {
    try {
      await call();
    } catch (cause) {
      this.#deps.counters.processingErrors++;
      this.#deps.events.emit('processingError', {
        shardId: this.shardId,
        error: new ProcessorError(this.shardId, cause),
        attempt: 1,
        willRetry: false,
      });
    }
  }

  async #parentsFinished(): Promise<boolean> {
    for (const parent of this.#deps.lease.parentShardIds) {
      try {
        const lease = await this.#deps.store.getLease(parent);
        // A parent lease that no longer exists (cleaned up, or never created) does not block.
        if (lease && !isFinished(lease)) return false;
      } catch (error) {
        this.#deps.events.emit('error', { operation: 'checkParents', error, shardId: this.shardId });
        return false;
      }
    }
    return true;
  }

  #startingPosition(): StartingPosition {
    const { checkpoint } = this.#deps.lease;
    if (isSequenceNumber(checkpoint)) return { type: 'AT_SEQUENCE_NUMBER', sequenceNumber: checkpoint };
    if (checkpoint === 'LATEST') return { type: 'LATEST' };
    const initial = this.#deps.options.initialPosition;
    if (checkpoint === 'AT_TIMESTAMP' && typeof initial === 'object') {
      return { type: 'AT_TIMESTAMP', timestamp: initial.timestamp };
    }
    return { type: 'TRIM_HORIZON' };
  }
}
