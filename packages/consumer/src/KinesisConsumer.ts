import { sleep } from './backoff.js';
import { ConsumerError } from './errors.js';
import { type ConsumerEventName, type ConsumerListener, TypedEvents } from './events.js';
import type { Lease } from './leases/Lease.js';
import { LeaseCoordinator } from './leases/LeaseCoordinator.js';
import type { LeaseLossReason } from './leases/LeaseRenewer.js';
import { ShardConsumer } from './lifecycle/ShardConsumer.js';
import { Counters, type MetricsSnapshot } from './metrics.js';
import { type KinesisConsumerOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { processorSource, type RecordProcessor } from './processor.js';
import { RecordSources } from './retrieval/RecordSources.js';

/** Options of {@link KinesisConsumer.stop}. */
export interface StopOptions {
  /**
   * How long to wait for in-flight batches and `shutdownRequested` before releasing the leases anyway.
   * @defaultValue `30_000`
   */
  timeoutMs?: number | undefined;
  /**
   * How long, after that, `stop()` waits for the lease releases and the background calls still in flight
   * (lease-table and Kinesis calls have no timeout of their own). Past it `stop()` resolves anyway; a lease
   * whose release did not complete expires after `failoverTimeMs`.
   * @defaultValue `5_000`
   */
  releaseTimeoutMs?: number | undefined;
}

/**
 * A Kinesis Data Streams consumer that shares a stream's shards with other workers through a DynamoDB
 * lease table in the KCL 2.x format. See the README for the lifecycle, options and guarantees.
 */
export class KinesisConsumer {
  readonly workerId: string;
  /** The stream's name (from `streamARN` when that is what was given), as metric exporters report it. */
  readonly streamName: string;
  /** The application's name: the lease table's, and the KCL's CloudWatch namespace. */
  readonly applicationName: string;
  readonly #options: ResolvedOptions;
  readonly #events = new TypedEvents();
  readonly #counters = new Counters();
  readonly #leases: LeaseCoordinator;
  readonly #processorFor: (shardId: string) => RecordProcessor;
  readonly #consumers = new Map<string, { readonly consumer: ShardConsumer; done: Promise<void> }>();
  readonly #sources: RecordSources;
  /** Aborted by stop(): ends a fan-out registration still waiting. */
  readonly #starting = new AbortController();
  #startPromise: Promise<void> | undefined;
  #stopPromise: Promise<void> | undefined;

  constructor(options: KinesisConsumerOptions) {
    this.#options = resolveOptions(options);
    const o = this.#options;
    this.workerId = o.workerId;
    this.streamName =
      'StreamName' in o.stream
        ? o.stream.StreamName
        : o.stream.StreamARN.slice(o.stream.StreamARN.lastIndexOf('/') + 1);
    this.applicationName = o.applicationName;
    this.#processorFor = processorSource(this.#options.processor);
    this.#sources = new RecordSources({ options: o, events: this.#events, counters: this.#counters });
    this.#leases = new LeaseCoordinator({
      options: this.#options,
      events: this.#events,
      counters: this.#counters,
      isBusy: (shardId) => this.#consumers.has(shardId),
      onAcquired: (lease, stolen) => this.#onAcquired(lease, stolen),
      onLost: (lease, reason) => this.#onLeaseLost(lease, reason),
      onHandoffRequested: (lease) => this.#onHandoffRequested(lease),
    });
  }

  /** Subscribes to an event; returns a function that unsubscribes. */
  on<E extends ConsumerEventName>(event: E, listener: ConsumerListener<E>): () => void {
    return this.#events.on(event, listener);
  }

  off<E extends ConsumerEventName>(event: E, listener: ConsumerListener<E>): void {
    this.#events.off(event, listener);
  }

  /**
   * Lists the stream's shards, creates the lease table if needed, syncs shards to leases, then runs the renew,
   * take and sync loops in the background. Rejects with a `StreamError` (code `STREAM`) or a `LeaseTableError`
   * (code `LEASE_TABLE`) naming the AWS error when the stream or the table cannot be used; `retriable` says
   * whether calling `start()` again can help (throttling, network) or not (permissions, a missing stream,
   * missing credentials or region). The stream is checked before the table is created. With fan-out by
   * consumer name it first waits until the stream consumer is ACTIVE (registering it if need be), at most
   * `retrieval.registrationTimeoutMs`.
   * While starting or started, calling it again returns the same promise.
   */
  start(): Promise<void> {
    if (this.#stopPromise) {
      return Promise.reject(
        new ConsumerError('STOPPED', 'a stopped consumer cannot be started again; create a new one'),
      );
    }
    this.#startPromise ??= this.#start().catch((error: unknown) => {
      this.#startPromise = undefined; // a failed start (table or stream unreachable) may be retried
      throw error;
    });
    return this.#startPromise;
  }

  async #start(): Promise<void> {
    // Fan-out: the stream consumer is ACTIVE before this worker joins (heartbeat, leases), so no shard waits
    // on it and the others do not count a worker that cannot read yet.
    await this.#sources.prepare(this.#starting.signal);
    await this.#leases.start();
    // stop() waits for a start in progress only up to its timeout: a start finishing later starts nothing.
    if (this.#leases.takingStopped) return;
    this.#leases.runLoops();
    this.#options.logger.info?.('consumer started', { workerId: this.workerId });
    this.#events.emit('started', { workerId: this.workerId });
  }

  /**
   * Graceful stop: no new leases; each shard finishes its batch in flight, the processor gets
   * `shutdownRequested` to checkpoint, and every lease is released so other workers take it at once.
   * After `timeoutMs` the remaining leases are released anyway; the releases are waited for at most
   * `releaseTimeoutMs`, so `stop()` resolves within `timeoutMs + releaseTimeoutMs`. Safe to call twice.
   */
  stop({ timeoutMs = 30_000, releaseTimeoutMs = 5_000 }: StopOptions = {}): Promise<void> {
    this.#stopPromise ??= this.#stop(timeoutMs, releaseTimeoutMs);
    return this.#stopPromise;
  }

  async #stop(timeoutMs: number, releaseTimeoutMs: number): Promise<void> {
    this.#starting.abort();
    const timeout = new AbortController();
    const deadline = sleep(timeoutMs, timeout.signal);
    await Promise.race([this.#startPromise?.catch(() => undefined), deadline]);
    this.#leases.stopTaking();
    for (const { consumer } of this.#consumers.values()) consumer.requestShutdown();
    await Promise.race([Promise.all([...this.#consumers.values()].map(({ done }) => done)), deadline]);
    timeout.abort();
    // Whatever is still held (timeout, or taken during shutdown) is released now; the releases and the loops'
    // last calls are waited for at most releaseTimeoutMs, since a hung lease-table call would never end.
    const tail = new AbortController();
    await Promise.race([
      (async () => {
        const leases = this.#leases;
        await Promise.all(leases.renewer.heldKeys().map((shardId) => leases.release(shardId)));
        await leases.stopRenewing();
        if (this.#startPromise) await leases.leave().catch(() => undefined);
      })(),
      sleep(releaseTimeoutMs, tail.signal),
    ]);
    tail.abort();
    void this.#leases.stopRenewing(); // also when the releases timed out: nothing is renewed after stop()
    this.#options.logger.info?.('consumer stopped', { workerId: this.workerId });
    this.#events.emit('stopped', { workerId: this.workerId });
  }

  /** A snapshot of counters and per-shard state. */
  metrics(): MetricsSnapshot {
    const c = this.#counters;
    const stats = this.#leases.stats;
    return {
      workerId: this.workerId,
      leasesHeld: this.#leases.renewer.size,
      shards: [...this.#consumers.values()].map(({ consumer }) => ({
        shardId: consumer.shardId,
        state: consumer.state,
        millisBehindLatest: consumer.millisBehindLatest,
        recordsProcessed: consumer.recordsProcessed,
        recordsOutOfRange: consumer.recordsOutOfRange,
        bytesProcessed: consumer.bytesProcessed,
        lastCheckpoint: consumer.lastCheckpoint,
        failingRecord: consumer.failingRecord,
        blockedSince: consumer.blockedSince,
      })),
      recordsProcessed: c.recordsProcessed,
      bytesProcessed: c.bytesProcessed,
      checkpoints: c.checkpoints,
      leaseRenewals: c.leaseRenewals,
      leasesTaken: c.leasesTaken,
      leasesStolen: c.leasesStolen,
      leasesLost: c.leasesLost,
      leasesReleased: c.leasesReleased,
      handoffsRequested: c.handoffsRequested,
      leasesHandedOff: c.leasesHandedOff,
      leasesDeleted: c.leasesDeleted,
      processingErrors: c.processingErrors,
      recordsDeadLettered: c.recordsDeadLettered,
      recordsSkipped: c.recordsSkipped,
      shardsBlocked: c.shardsBlocked,
      recordsOutOfRangeDelivered: c.recordsOutOfRangeDelivered,
      recordsOutOfRangeDropped: c.recordsOutOfRangeDropped,
      getRecordsThrottles: c.getRecordsThrottles,
      leaseTableWrites: stats.writes,
      leaseTableReads: stats.reads,
      leaseTableReadUnits: stats.readUnits,
      leaseTableWriteUnits: stats.writeUnits,
      liveWorkers: this.#leases.liveWorkers,
    };
  }

  /** Shard ids whose leases this worker holds right now. */
  heldShardIds(): string[] {
    return this.#leases.renewer.heldKeys().sort();
  }

  /** The coordinator acquired a lease: start its shard, or give it back when stopping. */
  async #onAcquired(lease: Lease, stolen: boolean): Promise<void> {
    this.#counters.leasesTaken++;
    if (stolen) this.#counters.leasesStolen++;
    this.#events.emit('leaseAcquired', { shardId: lease.leaseKey, stolen });
    this.#options.logger.info?.('lease acquired', { shardId: lease.leaseKey, stolen });
    if (this.#leases.takingStopped) await this.#leases.release(lease.leaseKey);
    else this.#startShard(lease);
  }

  #startShard(lease: Lease): void {
    const o = this.#options;
    let processor: RecordProcessor;
    try {
      processor = this.#processorFor(lease.leaseKey);
    } catch (error) {
      this.#events.emit('error', { operation: 'createProcessor', error, shardId: lease.leaseKey });
      void this.#leases.release(lease.leaseKey);
      return;
    }
    const consumer = new ShardConsumer({
      lease,
      options: o,
      store: this.#leases.store,
      renewer: this.#leases.renewer,
      processor,
      events: this.#events,
      counters: this.#counters,
      hashKeyRange: this.#leases.hashRangeOf(lease),
      createRecordSource: (source) => this.#sources.create(source),
      onChildShards: (shardId, children) => this.#leases.createChildLeases(shardId, children),
    });
    const entry = { consumer, done: Promise.resolve() };
    // The entry stays until the lease is released too: while it exists the taker leaves this shard alone,
    // so a new consumer for it never starts beside this one (and is never orphaned by this cleanup).
    entry.done = consumer
      .run()
      .then(
        async (outcome) => {
          if (outcome !== 'lease-lost') await this.#leases.release(lease.leaseKey);
        },
        async (error: unknown) => {
          this.#events.emit('error', { operation: 'shardConsumer', error, shardId: lease.leaseKey });
          await this.#leases.release(lease.leaseKey);
        },
      )
      .finally(() => {
        if (this.#consumers.get(lease.leaseKey) === entry) this.#consumers.delete(lease.leaseKey);
      });
    this.#consumers.set(lease.leaseKey, entry);
  }

  /**
   * Another worker asked for this lease: the shard consumer finishes its batch in flight, the processor gets
   * `shutdownRequested` to checkpoint, and the release that follows transfers the lease. A processor that does
   * not finish within `handoffTimeoutMs` is cut off (`leaseLost`) and the lease transferred anyway.
   */
  #onHandoffRequested(lease: Lease): void {
    const shardId = lease.leaseKey;
    this.#events.emit('handoffRequested', { shardId, from: this.workerId, to: lease.leaseOwner ?? '' });
    this.#options.logger.info?.('handing lease over', { shardId });
    const entry = this.#consumers.get(shardId);
    if (!entry) {
      void this.#leases.release(shardId);
      return;
    }
    entry.consumer.requestHandoff();
    const timer = setTimeout(() => {
      if (this.#leases.renewer.isHandingOff(shardId)) void this.#leases.release(shardId);
    }, this.#options.handoffTimeoutMs);
    timer.unref?.();
    void entry.done.finally(() => clearTimeout(timer));
  }

  #onLeaseLost(lease: Lease, reason: LeaseLossReason): void {
    const entry = this.#consumers.get(lease.leaseKey);
    if (reason === 'handed-off') {
      this.#counters.leasesHandedOff++;
      this.#events.emit('leaseHandedOff', { shardId: lease.leaseKey, to: lease.leaseOwner ?? '' });
    } else if (reason === 'released') {
      this.#counters.leasesReleased++;
      this.#events.emit('leaseReleased', { shardId: lease.leaseKey });
    } else {
      this.#counters.leasesLost++;
      this.#events.emit('leaseLost', { shardId: lease.leaseKey, reason });
      this.#options.logger.warn?.('lease lost', { shardId: lease.leaseKey, reason });
    }
    entry?.consumer.leaseLost();
  }
}
