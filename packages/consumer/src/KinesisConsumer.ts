import type { ChildShard, Shard } from '@aws-sdk/client-kinesis';
import type { HashKeyRange } from '@shardline/aggregation';
import { sleep } from './backoff.js';
import { ConsumerError } from './errors.js';
import { type ConsumerEventName, type ConsumerListener, TypedEvents } from './events.js';
import { DynamoDBLeaseStore } from './leases/DynamoDBLeaseStore.js';
import type { Lease } from './leases/Lease.js';
import { type LeaseLossReason, LeaseRenewer } from './leases/LeaseRenewer.js';
import { LeaseTaker } from './leases/LeaseTaker.js';
import { ShardSyncer } from './leases/ShardSyncer.js';
import { ShardConsumer } from './lifecycle/ShardConsumer.js';
import { Counters, type MetricsSnapshot } from './metrics.js';
import { type KinesisConsumerOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { processorSource, type RecordProcessor } from './processor.js';
import { PollingFetcher } from './retrieval/PollingFetcher.js';

/** Options of {@link KinesisConsumer.stop}. */
export interface StopOptions {
  /**
   * How long to wait for in-flight batches and `shutdownRequested` before releasing the leases anyway.
   * @defaultValue `30_000`
   */
  timeoutMs?: number;
  /**
   * How long, after that, `stop()` waits for the lease releases and the background calls still in flight
   * (lease-table and Kinesis calls have no timeout of their own). Past it `stop()` resolves anyway; a lease
   * whose release did not complete expires after `failoverTimeMs`.
   * @defaultValue `5_000`
   */
  releaseTimeoutMs?: number;
}

/** Floor between GetRecords calls on one shard: Kinesis allows 5 per second. */
const MIN_GET_RECORDS_INTERVAL_MS = 200;

/**
 * A Kinesis Data Streams consumer that shares a stream's shards with other workers through a DynamoDB
 * lease table in the KCL 2.x format. See the README for the lifecycle, options and guarantees.
 */
export class KinesisConsumer {
  readonly workerId: string;
  readonly #options: ResolvedOptions;
  readonly #events = new TypedEvents();
  readonly #counters = new Counters();
  readonly #store: DynamoDBLeaseStore;
  readonly #renewer: LeaseRenewer;
  readonly #taker: LeaseTaker;
  readonly #syncer: ShardSyncer;
  readonly #processorFor: (shardId: string) => RecordProcessor;
  readonly #consumers = new Map<string, { readonly consumer: ShardConsumer; done: Promise<void> }>();
  readonly #hashRanges = new Map<string, HashKeyRange>();
  readonly #loopsAbort = new AbortController();
  readonly #renewAbort = new AbortController();
  readonly #loops: Promise<void>[] = [];
  #startPromise: Promise<void> | undefined;
  #stopPromise: Promise<void> | undefined;

  constructor(options: KinesisConsumerOptions) {
    this.#options = resolveOptions(options);
    const o = this.#options;
    this.workerId = o.workerId;
    this.#processorFor = processorSource(o.processor);
    const now = (): number => performance.now();
    this.#store = new DynamoDBLeaseStore({ client: o.dynamoDBClient, tableName: o.applicationName });
    this.#renewer = new LeaseRenewer({
      store: this.#store,
      workerId: o.workerId,
      failoverTimeMs: o.failoverTimeMs,
      renewIntervalMs: o.renewIntervalMs,
      maxConcurrentRenewals: 16,
      now,
      onLost: (lease, reason) => this.#onLeaseLost(lease, reason),
      onRenewed: () => {
        this.#counters.leaseRenewals++;
      },
      onError: (error, shardId) => this.#events.emit('error', { operation: 'renewLease', error, shardId }),
    });
    this.#taker = new LeaseTaker({
      store: this.#store,
      renewer: this.#renewer,
      workerId: o.workerId,
      failoverTimeMs: o.failoverTimeMs,
      maxLeasesForWorker: o.maxLeasesForWorker,
      maxLeasesToStealAtOnce: o.maxLeasesToStealAtOnce,
      now,
      isBusy: (shardId) => this.#consumers.has(shardId),
      onError: (error, shardId) => this.#events.emit('error', { operation: 'takeLease', error, shardId }),
    });
    const initial = o.initialPosition;
    this.#syncer = new ShardSyncer({
      kinesis: o.kinesisClient,
      stream: o.stream,
      store: this.#store,
      initialCheckpoint: typeof initial === 'object' ? 'AT_TIMESTAMP' : initial,
      signal: this.#loopsAbort.signal,
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
   * missing credentials or region). The stream is checked before the table is created.
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
    // The stream first: a misspelt stream name or missing permission must not leave a lease table behind.
    const shards = await this.#syncer.listShards();
    await this.#store.ensureTable();
    await this.#sync(shards);
    // stop() waits for a start in progress only up to its timeout: a start finishing later starts nothing.
    if (this.#loopsAbort.signal.aborted) return;
    const o = this.#options;
    this.#loops.push(
      this.#loop(this.#renewAbort.signal, o.renewIntervalMs, 'renewLeases', () => this.#renewer.renewAll()),
      this.#loop(this.#loopsAbort.signal, o.takerIntervalMs, 'takeLeases', () => this.#take()),
      this.#loop(this.#loopsAbort.signal, o.shardSyncIntervalMs, 'shardSync', () => this.#sync(), true),
    );
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
    const timeout = new AbortController();
    const deadline = sleep(timeoutMs, timeout.signal);
    await Promise.race([this.#startPromise?.catch(() => undefined), deadline]);
    this.#loopsAbort.abort();
    for (const { consumer } of this.#consumers.values()) consumer.requestShutdown();
    await Promise.race([Promise.all([...this.#consumers.values()].map(({ done }) => done)), deadline]);
    timeout.abort();
    // Whatever is still held (timeout, or taken during shutdown) is released now; the releases and the loops'
    // last calls are waited for at most releaseTimeoutMs, since a hung lease-table call would never end.
    const tail = new AbortController();
    await Promise.race([
      (async () => {
        await Promise.all(this.#renewer.heldKeys().map((shardId) => this.#release(shardId)));
        this.#renewAbort.abort();
        await Promise.all(this.#loops);
      })(),
      sleep(releaseTimeoutMs, tail.signal),
    ]);
    tail.abort();
    this.#renewAbort.abort(); // also when the releases timed out: nothing is renewed after stop()
    this.#options.logger.info?.('consumer stopped', { workerId: this.workerId });
    this.#events.emit('stopped', { workerId: this.workerId });
  }

  /** A snapshot of counters and per-shard state. */
  metrics(): MetricsSnapshot {
    const c = this.#counters;
    return {
      workerId: this.workerId,
      leasesHeld: this.#renewer.size,
      shards: [...this.#consumers.values()].map(({ consumer }) => ({
        shardId: consumer.shardId,
        state: consumer.state,
        millisBehindLatest: consumer.millisBehindLatest,
        recordsProcessed: consumer.recordsProcessed,
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
      processingErrors: c.processingErrors,
      recordsDeadLettered: c.recordsDeadLettered,
      recordsSkipped: c.recordsSkipped,
      shardsBlocked: c.shardsBlocked,
      recordsFilteredOutOfRange: c.recordsFilteredOutOfRange,
      getRecordsThrottles: c.getRecordsThrottles,
      leaseTableWrites: this.#store.stats.writes,
      leaseTableReads: this.#store.stats.reads,
    };
  }

  /** Shard ids whose leases this worker holds right now. */
  heldShardIds(): string[] {
    return this.#renewer.heldKeys().sort();
  }

  async #loop(
    signal: AbortSignal,
    intervalMs: number,
    operation: string,
    body: () => Promise<void>,
    waitFirst = false,
  ): Promise<void> {
    if (waitFirst) await sleep(intervalMs, signal);
    while (!signal.aborted) {
      try {
        await body();
      } catch (error) {
        // Throttling, network or emulator hiccups: reported, retried next interval, never fatal.
        this.#events.emit('error', { operation, error });
        this.#options.logger.warn?.(`${operation} failed`, { workerId: this.workerId });
      }
      await sleep(intervalMs, signal);
    }
  }

  async #sync(listed?: Shard[]): Promise<void> {
    const { shards } = await this.#syncer.sync(listed);
    for (const shard of shards) {
      const range = shard.HashKeyRange;
      if (shard.ShardId && range?.StartingHashKey && range.EndingHashKey) {
        this.#hashRanges.set(shard.ShardId, {
          startingHashKey: range.StartingHashKey,
          endingHashKey: range.EndingHashKey,
        });
      }
    }
  }

  async #take(): Promise<void> {
    const taken = await this.#taker.takeLeases();
    for (const { lease, stolen } of taken) {
      this.#counters.leasesTaken++;
      if (stolen) this.#counters.leasesStolen++;
      this.#events.emit('leaseAcquired', { shardId: lease.leaseKey, stolen });
      this.#options.logger.info?.('lease acquired', { shardId: lease.leaseKey, stolen });
      if (this.#loopsAbort.signal.aborted) {
        await this.#release(lease.leaseKey);
        continue;
      }
      this.#startShard(lease);
    }
  }

  #startShard(lease: Lease): void {
    const o = this.#options;
    let processor: RecordProcessor;
    try {
      processor = this.#processorFor(lease.leaseKey);
    } catch (error) {
      this.#events.emit('error', { operation: 'createProcessor', error, shardId: lease.leaseKey });
      void this.#release(lease.leaseKey);
      return;
    }
    const range: HashKeyRange | undefined =
      lease.startingHashKey !== undefined && lease.endingHashKey !== undefined
        ? { startingHashKey: lease.startingHashKey, endingHashKey: lease.endingHashKey }
        : this.#hashRanges.get(lease.leaseKey);
    const consumer = new ShardConsumer({
      lease,
      options: o,
      store: this.#store,
      renewer: this.#renewer,
      processor,
      events: this.#events,
      counters: this.#counters,
      hashKeyRange: range,
      createFetcher: ({ shardId, start }) =>
        new PollingFetcher({
          kinesis: o.kinesisClient,
          stream: o.stream,
          shardId,
          start,
          maxRecords: o.maxRecords,
          idleTimeBetweenReadsMs: o.idleTimeBetweenReadsMs,
          minCallIntervalMs: MIN_GET_RECORDS_INTERVAL_MS,
          maxPrefetchBatches: o.maxPrefetchBatches,
          maxPrefetchBytes: o.maxPrefetchBytes,
          backoffBaseMs: 200,
          backoffMaxMs: 5_000,
          now: () => performance.now(),
          onError: (error) => this.#events.emit('error', { operation: 'getRecords', error, shardId }),
          onThrottled: () => {
            this.#counters.getRecordsThrottles++;
          },
        }),
      onChildShards: (shardId, children) => this.#createChildLeases(shardId, children),
    });
    const entry = { consumer, done: Promise.resolve() };
    // The entry stays until the lease is released too: while it exists the taker leaves this shard alone,
    // so a new consumer for it never starts beside this one (and is never orphaned by this cleanup).
    entry.done = consumer
      .run()
      .then(
        async (outcome) => {
          if (outcome !== 'lease-lost') await this.#release(lease.leaseKey);
        },
        async (error: unknown) => {
          this.#events.emit('error', { operation: 'shardConsumer', error, shardId: lease.leaseKey });
          await this.#release(lease.leaseKey);
        },
      )
      .finally(() => {
        if (this.#consumers.get(lease.leaseKey) === entry) this.#consumers.delete(lease.leaseKey);
      });
    this.#consumers.set(lease.leaseKey, entry);
  }

  /** At shard end: a child lease is created once every one of its parents has a lease (KCL rule). */
  async #createChildLeases(shardId: string, children: readonly ChildShard[]): Promise<void> {
    for (const child of children) {
      if (!child.ShardId) continue;
      const parents = child.ParentShards ?? [shardId];
      let allParentsLeased = true;
      for (const parent of parents) {
        if (parent !== shardId && !(await this.#store.getLease(parent))) allParentsLeased = false;
      }
      if (!allParentsLeased) continue; // the other parent's worker (or the shard sync) creates it later
      await this.#store.createLeaseIfNotExists({
        leaseKey: child.ShardId,
        checkpoint: 'TRIM_HORIZON',
        parentShardIds: parents,
        ...(child.HashKeyRange?.StartingHashKey
          ? { startingHashKey: child.HashKeyRange.StartingHashKey }
          : {}),
        ...(child.HashKeyRange?.EndingHashKey ? { endingHashKey: child.HashKeyRange.EndingHashKey } : {}),
      });
    }
    const ids = children.map((child) => child.ShardId ?? '').filter((id) => id !== '');
    await this.#store.addChildShardIds(shardId, ids);
  }

  async #release(shardId: string): Promise<void> {
    try {
      await this.#renewer.release(shardId);
    } catch (error) {
      // The lease then simply expires and another worker takes it after failoverTimeMs.
      this.#events.emit('error', { operation: 'releaseLease', error, shardId });
    }
  }

  #onLeaseLost(lease: Lease, reason: LeaseLossReason): void {
    const entry = this.#consumers.get(lease.leaseKey);
    if (reason === 'released') {
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
