import type { ChildShard, Shard } from '@aws-sdk/client-kinesis';
import type { HashKeyRange } from '@shardline/aggregation';
import { sleep } from './backoff.js';
import { ConsumerError } from './errors.js';
import { type ConsumerEventName, type ConsumerListener, TypedEvents } from './events.js';
import { DynamoDBLeaseStore } from './leases/DynamoDBLeaseStore.js';
import { DynamoDBWorkerStore } from './leases/DynamoDBWorkerStore.js';
import type { Lease } from './leases/Lease.js';
import { LeaseCleaner } from './leases/LeaseCleaner.js';
import { type LeaseLossReason, LeaseRenewer } from './leases/LeaseRenewer.js';
import { LeaseTaker } from './leases/LeaseTaker.js';
import { ShardSyncer } from './leases/ShardSyncer.js';
import { WorkerLiveness } from './leases/WorkerLiveness.js';
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
  /** The stream's name (from `streamARN` when that is what was given), as metric exporters report it. */
  readonly streamName: string;
  /** The application's name: the lease table's, and the KCL's CloudWatch namespace. */
  readonly applicationName: string;
  readonly #options: ResolvedOptions;
  readonly #events = new TypedEvents();
  readonly #counters = new Counters();
  readonly #store: DynamoDBLeaseStore;
  readonly #renewer: LeaseRenewer;
  readonly #taker: LeaseTaker;
  readonly #syncer: ShardSyncer;
  readonly #workerStore: DynamoDBWorkerStore;
  readonly #liveness: WorkerLiveness;
  /** Local time after which the lease table is due for its periodic scan. */
  #nextLeaseScanAt = 0;
  readonly #cleaner: LeaseCleaner | undefined;
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
    this.streamName =
      'StreamName' in o.stream
        ? o.stream.StreamName
        : o.stream.StreamARN.slice(o.stream.StreamARN.lastIndexOf('/') + 1);
    this.applicationName = o.applicationName;
    this.#processorFor = processorSource(o.processor);
    const now = (): number => performance.now();
    this.#store = new DynamoDBLeaseStore({ client: o.dynamoDBClient, tableName: o.applicationName });
    this.#workerStore = new DynamoDBWorkerStore({ client: o.dynamoDBClient, tableName: o.workerTableName });
    this.#renewer = new LeaseRenewer({
      store: this.#store,
      workerId: o.workerId,
      failoverTimeMs: o.failoverTimeMs,
      renewIntervalMs: o.renewIntervalMs,
      maxConcurrentRenewals: 16,
      now,
      fenceOnHeartbeat: true,
      onLost: (lease, reason) => this.#onLeaseLost(lease, reason),
      onHandoffRequested: (lease) => this.#onHandoffRequested(lease),
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
      handoffTimeoutMs: o.handoffTimeoutMs,
      onHandoffRequested: (lease) => {
        this.#counters.handoffsRequested++;
        this.#events.emit('handoffRequested', {
          shardId: lease.leaseKey,
          from: lease.leaseOwner ?? '',
          to: this.workerId,
        });
      },
      onError: (error, shardId) => this.#events.emit('error', { operation: 'takeLease', error, shardId }),
    });
    this.#liveness = new WorkerLiveness({
      store: this.#workerStore,
      renewer: this.#renewer,
      workerId: o.workerId,
      failoverTimeMs: o.failoverTimeMs,
      now,
      onError: (error, operation) => this.#events.emit('error', { operation, error }),
    });
    const initial = o.initialPosition;
    this.#syncer = new ShardSyncer({
      kinesis: o.kinesisClient,
      stream: o.stream,
      store: this.#store,
      initialCheckpoint: typeof initial === 'object' ? 'AT_TIMESTAMP' : initial,
      signal: this.#loopsAbort.signal,
    });
    this.#cleaner =
      o.maxLeaseDeletesPerSync === 0
        ? undefined
        : new LeaseCleaner({
            store: this.#store,
            kinesis: o.kinesisClient,
            stream: o.stream,
            failoverTimeMs: o.failoverTimeMs,
            maxDeletesPerRun: o.maxLeaseDeletesPerSync,
            now,
            signal: this.#loopsAbort.signal,
            onDeleted: (lease, reason) => {
              this.#counters.leasesDeleted++;
              this.#events.emit('leaseDeleted', { shardId: lease.leaseKey, reason });
              this.#options.logger.info?.('lease deleted', { shardId: lease.leaseKey, reason });
            },
            onError: (error, operation, shardId) => this.#events.emit('error', { operation, error, shardId }),
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
    // The heartbeat first: no lease is ever held without one.
    await this.#liveness.start();
    await this.#sync(shards);
    // stop() waits for a start in progress only up to its timeout: a start finishing later starts nothing.
    if (this.#loopsAbort.signal.aborted) return;
    const o = this.#options;
    this.#loops.push(
      this.#loop(this.#renewAbort.signal, o.renewIntervalMs, 'renewLeases', () => this.#renew()),
      this.#loop(this.#loopsAbort.signal, o.takerIntervalMs, 'takeLeases', () => this.#lookAndTake()),
      this.#loop(
        this.#loopsAbort.signal,
        o.shardSyncIntervalMs,
        'shardSync',
        () => this.#sync(undefined, true),
        true,
      ),
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
        if (this.#startPromise) await this.#liveness.leave().catch(() => undefined);
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
      leaseTableWrites: this.#store.stats.writes + this.#workerStore.stats.writes,
      leaseTableReads: this.#store.stats.reads + this.#workerStore.stats.reads,
      leaseTableReadUnits: this.#store.stats.readUnits + this.#workerStore.stats.readUnits,
      leaseTableWriteUnits: this.#store.stats.writeUnits + this.#workerStore.stats.writeUnits,
      liveWorkers: this.#liveness.liveWorkers + 1,
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

  /** The heartbeat (not waited for: a slow one must not hold the renewals back), then the leases. */
  async #renew(): Promise<void> {
    this.#liveness.beatSoon();
    await this.#renewer.renewAll();
  }

  /**
   * One small read of every worker's heartbeat; the lease table is scanned only when that shows something to
   * act on (a worker died, changed its leases or left), while this worker's own balancing is under way, or at
   * the periodic `leaseScanIntervalMs`.
   */
  async #lookAndTake(): Promise<void> {
    const look = await this.#liveness.look();
    const now = performance.now();
    if (!look.cue && now < this.#nextLeaseScanAt) return;
    this.#nextLeaseScanAt = now + this.#options.leaseScanIntervalMs;
    await this.#take(look.dead);
    // Balancing under way (a take won or lost, a handoff asked for): look again at the next tick.
    if (this.#taker.lastCycleActed) this.#nextLeaseScanAt = 0;
  }

  /**
   * Creates missing leases (on the taker's last lease scan: no scan of its own); with `clean`, then deletes
   * leases no longer needed, on the same reads.
   */
  async #sync(listed?: Shard[], clean = false): Promise<void> {
    const { shards, leases, created } = await this.#syncer.sync(listed, this.#taker.lastScan);
    if (created > 0) this.#liveness.changed();
    for (const shard of shards) {
      const range = shard.HashKeyRange;
      if (shard.ShardId && range?.StartingHashKey && range.EndingHashKey) {
        this.#hashRanges.set(shard.ShardId, {
          startingHashKey: range.StartingHashKey,
          endingHashKey: range.EndingHashKey,
        });
      }
    }
    if (clean) await this.#cleaner?.clean({ shards, leases });
  }

  async #take(deadWorkers?: ReadonlySet<string>): Promise<void> {
    const taken = await this.#taker.takeLeases(deadWorkers);
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
    this.#liveness.changed();
  }

  async #release(shardId: string): Promise<void> {
    try {
      await this.#renewer.release(shardId);
    } catch (error) {
      // The lease then simply expires and another worker takes it after failoverTimeMs.
      this.#events.emit('error', { operation: 'releaseLease', error, shardId });
    }
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
      void this.#release(shardId);
      return;
    }
    entry.consumer.requestShutdown();
    const timer = setTimeout(() => {
      if (this.#renewer.isHandingOff(shardId)) void this.#release(shardId);
    }, this.#options.handoffTimeoutMs);
    timer.unref?.();
    void entry.done.finally(() => clearTimeout(timer));
  }

  #onLeaseLost(lease: Lease, reason: LeaseLossReason): void {
    const entry = this.#consumers.get(lease.leaseKey);
    if (reason === 'handed-off' || reason === 'released') this.#liveness.changed();
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
