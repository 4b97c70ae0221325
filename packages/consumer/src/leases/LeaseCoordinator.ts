import type { ChildShard } from '@aws-sdk/client-kinesis';
import type { HashKeyRange } from '@shardline/aggregation';
import { sleep } from '../backoff.js';
import type { TypedEvents } from '../events.js';
import type { Counters } from '../metrics.js';
import type { ResolvedOptions } from '../options.js';
import { DynamoDBLeaseStore } from './DynamoDBLeaseStore.js';
import { DynamoDBWorkerStore } from './DynamoDBWorkerStore.js';
import type { Lease } from './Lease.js';
import { type LeaseLossReason, LeaseRenewer } from './LeaseRenewer.js';
import { LeaseTaker } from './LeaseTaker.js';
import type { LeaseKey } from './leaseKeys.js';
import { type LeaseStream, StreamRegistry } from './StreamRegistry.js';
import { ThroughputMeter } from './ThroughputMeter.js';
import { WorkerLiveness } from './WorkerLiveness.js';

/** What the coordinator needs from the worker that runs the shards. */
export interface LeaseCoordinatorDeps {
  options: ResolvedOptions;
  events: TypedEvents;
  counters: Counters;
  /** Whether a shard still has a consumer on this worker (then its lease is neither taken nor asked for). */
  isBusy(shardId: string): boolean;
  /** A lease was acquired: start consuming its shard (or release it, once taking has stopped). */
  onAcquired(lease: Lease, stolen: boolean): Promise<void> | void;
  /** A held lease is gone (released, handed off, taken, expired): stop consuming its shard. */
  onLost(lease: Lease, reason: LeaseLossReason): void;
  /** Another worker asked for a held lease: finish the batch in flight, then {@link LeaseCoordinator.release}. */
  onHandoffRequested(lease: Lease): void;
  /**
   * Bytes of record data processed so far on a shard by its current consumer here (`undefined` when none):
   * the only figure of the records the lease side sees, for `throughputKBps` and balancing by throughput.
   */
  bytesProcessed(shardId: string): number | undefined;
}

/**
 * The worker's lease side, which knows nothing of records: the lease and heartbeat tables, renewing,
 * judging liveness, taking and asking for leases, shard sync and lease cleanup, and the three background
 * loops that drive them (renew, look-and-take, sync).
 */
export class LeaseCoordinator {
  readonly store: DynamoDBLeaseStore;
  readonly renewer: LeaseRenewer;
  readonly #deps: LeaseCoordinatorDeps;
  readonly #workerStore: DynamoDBWorkerStore;
  readonly #taker: LeaseTaker;
  readonly #liveness: WorkerLiveness;
  readonly #meter: ThroughputMeter;
  /** The application's streams: one, or a multi-stream application's list. */
  readonly #registry: StreamRegistry;
  readonly #loopsAbort = new AbortController();
  readonly #renewAbort = new AbortController();
  readonly #loops: Promise<void>[] = [];
  /** Local time after which the lease table is due for its periodic scan. */
  #nextLeaseScanAt = 0;

  constructor(deps: LeaseCoordinatorDeps) {
    this.#deps = deps;
    const { options: o, events, counters } = deps;
    const now = (): number => performance.now();
    this.#meter = new ThroughputMeter({
      bytesOf: (shardId) => deps.bytesProcessed(shardId),
      now,
      // A lease is judged on as long a span as it stays put after a move: steady figures, and a moved lease
      // is measured by its new owner before it may move again.
      windowMs: Math.max(o.balanceCooldownMs, o.renewIntervalMs),
    });
    this.store = new DynamoDBLeaseStore({
      client: o.dynamoDBClient,
      tableName: o.applicationName,
      throughputOf: (shardId) => this.#meter.current(shardId),
    });
    this.#workerStore = new DynamoDBWorkerStore({ client: o.dynamoDBClient, tableName: o.workerTableName });
    this.renewer = new LeaseRenewer({
      store: this.store,
      workerId: o.workerId,
      failoverTimeMs: o.failoverTimeMs,
      renewIntervalMs: o.renewIntervalMs,
      maxConcurrentRenewals: 16,
      now,
      fenceOnHeartbeat: true,
      onLost: (lease, reason) => {
        if (reason === 'handed-off') this.#liveness.changed('transfer');
        else if (reason === 'released') this.#liveness.changed();
        this.#meter.drop(lease.leaseKey);
        deps.onLost(lease, reason);
      },
      onHandoffRequested: (lease) => deps.onHandoffRequested(lease),
      onRenewed: () => {
        counters.leaseRenewals++;
      },
      onError: (error, shardId) => events.emit('error', { operation: 'renewLease', error, shardId }),
    });
    this.#taker = new LeaseTaker({
      store: this.store,
      renewer: this.renewer,
      workerId: o.workerId,
      failoverTimeMs: o.failoverTimeMs,
      maxLeasesForWorker: o.maxLeasesForWorker,
      maxLeasesToStealAtOnce: o.maxLeasesToStealAtOnce,
      now,
      isBusy: (shardId) => deps.isBusy(shardId),
      handoffTimeoutMs: o.handoffTimeoutMs,
      balancing: o.balancing,
      balanceCooldownMs: o.balanceCooldownMs,
      onTaken: (lease) => this.#meter.start(lease.leaseKey, lease.throughputKBps),
      onBalanceMove: (lease, to) => {
        counters.balanceMoves++;
        // A lazy payload: nothing is built when nobody listens.
        events.emit('balanceMove', () => ({
          shardId: lease.leaseKey,
          to,
          throughputKBps: lease.throughputKBps,
        }));
        o.logger.info?.('handing lease over to balance throughput', {
          shardId: lease.leaseKey,
          to,
          throughputKBps: lease.throughputKBps,
        });
      },
      onHandoffRequested: (lease) => {
        counters.handoffsRequested++;
        events.emit('handoffRequested', {
          shardId: lease.leaseKey,
          from: lease.leaseOwner ?? '',
          to: o.workerId,
        });
      },
      onError: (error, shardId) => events.emit('error', { operation: 'takeLease', error, shardId }),
    });
    this.#liveness = new WorkerLiveness({
      store: this.#workerStore,
      renewer: this.renewer,
      workerId: o.workerId,
      failoverTimeMs: o.failoverTimeMs,
      now,
      onError: (error, operation) => events.emit('error', { operation, error }),
    });
    this.#registry = new StreamRegistry({
      options: o,
      events,
      counters,
      store: this.store,
      signal: this.#loopsAbort.signal,
    });
  }

  /**
   * The stream first (a misspelt name or a missing permission must not leave a table behind), then the lease
   * table, the heartbeat (no lease is ever held without one), and the first shard sync.
   */
  async start(): Promise<void> {
    const listings = await this.#registry.listShards();
    await this.store.ensureTable();
    await this.#liveness.start();
    if ((await this.#registry.firstSync(listings)) > 0) this.#liveness.changed();
  }

  /** Starts the renew, look-and-take and sync loops (unless {@link stopTaking} came first). */
  runLoops(): void {
    if (this.#loopsAbort.signal.aborted) return;
    const o = this.#deps.options;
    // The heartbeat on a fixed-rate timer of its own: a slow renewal round (many leases, a throttled table)
    // must not delay it, since every lease is dropped when it goes stale.
    const heartbeat = setInterval(() => this.#liveness.beatSoon(), o.renewIntervalMs);
    heartbeat.unref?.();
    this.#renewAbort.signal.addEventListener('abort', () => clearInterval(heartbeat), { once: true });
    this.#loops.push(
      this.#loop(this.#renewAbort.signal, o.renewIntervalMs, 'renewLeases', () => {
        // One throughput sample per lease per renewal round, written with the renewal (as the KCL 3.x does).
        this.#meter.sample(this.renewer.heldKeys());
        return this.renewer.renewAll();
      }),
      this.#loop(this.#loopsAbort.signal, o.takerIntervalMs, 'takeLeases', () => this.#lookAndTake()),
      this.#loop(this.#loopsAbort.signal, o.shardSyncIntervalMs, 'shardSync', () => this.#syncAll(), true),
    );
    if (o.streams !== undefined) {
      this.#loops.push(
        this.#loop(
          this.#loopsAbort.signal,
          o.streamListIntervalMs,
          'streamList',
          () => this.#refreshStreams(),
          true,
        ),
      );
    }
  }

  /** No more taking, syncing or cleaning (held leases are still renewed until {@link stopRenewing}). */
  stopTaking(): void {
    this.#loopsAbort.abort();
  }

  get takingStopped(): boolean {
    return this.#loopsAbort.signal.aborted;
  }

  /** Stops renewing and waits for the loops' last calls. */
  async stopRenewing(): Promise<void> {
    this.#renewAbort.abort();
    await Promise.all(this.#loops);
  }

  /** At `stop()`, after the releases: deleting the heartbeat record tells the others at once. */
  leave(): Promise<void> {
    return this.#liveness.leave();
  }

  /** Gives a lease up: transferred during a handoff, else evicted. Failures are reported, never thrown. */
  async release(shardId: string): Promise<void> {
    try {
      await this.renewer.release(shardId);
    } catch (error) {
      // The lease then simply expires and another worker takes it after failoverTimeMs.
      this.#deps.events.emit('error', { operation: 'releaseLease', error, shardId });
    }
  }

  /** See {@link StreamRegistry.streamOf}. */
  streamOf(leaseKey: LeaseKey): LeaseStream | undefined {
    return this.#registry.streamOf(leaseKey);
  }

  /** The shard's hash range, from its lease or its stream's last listing. */
  hashRangeOf(lease: Lease): HashKeyRange | undefined {
    const stream = this.#registry.streamOf(lease.leaseKey);
    return stream?.leases.hashRangeOf(lease, stream.shard.shardId);
  }

  /** At shard end: a child lease is created once every one of its parents has a lease (KCL rule). */
  async createChildLeases(leaseKey: LeaseKey, children: readonly ChildShard[]): Promise<void> {
    const stream = this.#registry.streamOf(leaseKey);
    if (!stream) return; // its stream's leases were deleted meanwhile: nothing to continue
    await stream.leases.createChildLeases(stream.shard.shardId, children);
    this.#liveness.changed();
  }

  /** Requests sent and capacity units consumed on the lease and heartbeat tables. */
  get stats(): { reads: number; writes: number; readUnits: number; writeUnits: number } {
    const a = this.store.stats;
    const b = this.#workerStore.stats;
    return {
      reads: a.reads + b.reads,
      writes: a.writes + b.writes,
      readUnits: a.readUnits + b.readUnits,
      writeUnits: a.writeUnits + b.writeUnits,
    };
  }

  /** Workers seen alive by their heartbeats, this one included. */
  get liveWorkers(): number {
    return this.#liveness.liveWorkers + 1;
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
        this.#deps.events.emit('error', { operation, error });
        this.#deps.options.logger.warn?.(`${operation} failed`, { workerId: this.#deps.options.workerId });
      }
      await sleep(intervalMs, signal);
    }
  }

  /**
   * One small read of every worker's heartbeat; the lease table is scanned only when that shows something to
   * act on (a worker died, changed its leases or left), right after a cycle of this worker's that took or asked
   * for a lease (its balancing is under way), or at the periodic `leaseScanIntervalMs` (which is also when
   * leases of owners without a heartbeat, Java KCL workers, are judged by their counters).
   */
  async #lookAndTake(): Promise<void> {
    const look = await this.#liveness.look();
    const now = performance.now();
    if (!look.cue && now < this.#nextLeaseScanAt) {
      if (!look.transferCue) return;
      // A lease was handed to some worker: with the owner index, a query of our own keys tells whether it is
      // us, instead of every worker scanning the whole table. Without the index, scan.
      const own = await this.#taker.takeOwn();
      if (own !== undefined) {
        for (const { lease, stolen } of own) await this.#deps.onAcquired(lease, stolen);
        return;
      }
    }
    this.#nextLeaseScanAt = now + this.#deps.options.leaseScanIntervalMs;
    const taken = await this.#taker.takeLeases(
      look.dead,
      this.#liveness.liveWorkers + 1,
      this.#liveness.liveWorkerIds(),
    );
    for (const { lease, stolen } of taken) await this.#deps.onAcquired(lease, stolen);
    // Balancing under way (a take won or lost, a handoff asked for): look again at the next tick.
    if (this.#taker.lastCycleActed) this.#nextLeaseScanAt = 0;
    // Waiting for a lease to be measured (at most one window): its owner's next renewals may bring the
    // value, and no heartbeat cue announces that, so scan again after a renewal interval.
    else if (this.#taker.balancingWaits)
      this.#nextLeaseScanAt = Math.min(this.#nextLeaseScanAt, now + this.#deps.options.renewIntervalMs);
  }

  /** Shard sync and lease cleanup of every listed stream, then the leases of former streams. */
  async #syncAll(): Promise<void> {
    if ((await this.#registry.syncAll(this.#taker.lastScan)) > 0) this.#liveness.changed();
  }

  /** Multi-stream: reads the stream list again; new streams get their leases at once. */
  async #refreshStreams(): Promise<void> {
    if ((await this.#registry.refresh(this.#taker.lastScan)) > 0) this.#liveness.changed();
  }
}
