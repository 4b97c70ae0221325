import type { ChildShard, Shard } from '@aws-sdk/client-kinesis';
import type { HashKeyRange } from '@shardline/aggregation';
import { sleep } from '../backoff.js';
import type { TypedEvents } from '../events.js';
import type { Counters } from '../metrics.js';
import type { ResolvedOptions } from '../options.js';
import { StreamTracker, type TrackedStream } from '../streams/StreamTracker.js';
import type { InitialPosition, StreamRef } from '../types.js';
import { DynamoDBLeaseStore } from './DynamoDBLeaseStore.js';
import { DynamoDBWorkerStore } from './DynamoDBWorkerStore.js';
import type { Lease } from './Lease.js';
import type { LeaseDeletionReason } from './LeaseCleaner.js';
import { type LeaseLossReason, LeaseRenewer } from './LeaseRenewer.js';
import { LeaseTaker } from './LeaseTaker.js';
import { type LeaseKey, leaseKeyOf, type StreamShard, shardOf } from './leaseKeys.js';
import { StreamLeases } from './StreamLeases.js';
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

/** The stream behind a lease, as the worker reads its shard. */
export interface LeaseStream {
  readonly shard: StreamShard;
  readonly stream: StreamRef;
  /** The stream's name (for the processor and metrics). */
  readonly streamName: string;
  readonly streamARN: string | undefined;
  readonly initialPosition: InitialPosition;
  /** The stream's leases by shard id (parent checks). */
  readonly leases: StreamLeases;
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
  /** Per stream, by serialized stream identity (`''` for the stream of a single-stream application). */
  readonly #streams = new Map<string, StreamLeases>();
  /** The stream list of a multi-stream application; `undefined` in a single-stream one. */
  readonly #tracker: StreamTracker | undefined;
  /** Streams known by identity: their names and ARNs, for {@link streamOf}. */
  readonly #tracked = new Map<string, TrackedStream>();
  readonly #loopsAbort = new AbortController();
  readonly #renewAbort = new AbortController();
  readonly #loops: Promise<void>[] = [];
  /** Local time after which the lease table is due for its periodic scan. */
  #nextLeaseScanAt = 0;

  constructor(deps: LeaseCoordinatorDeps) {
    this.#deps = deps;
    const { options: o, events, counters } = deps;
    const now = (): number => performance.now();
    this.#meter = new ThroughputMeter({ bytesOf: (shardId) => deps.bytesProcessed(shardId), now });
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
      onBalanceMove: (lease, to) =>
        o.logger.info?.('handing lease over to balance throughput', {
          shardId: lease.leaseKey,
          to,
          throughputKBps: lease.throughputKBps,
        }),
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
    if (o.streams === undefined) {
      const stream = o.stream as StreamRef;
      this.#streams.set('', this.#streamLeases(undefined, stream, o.initialPosition));
    } else {
      this.#tracker = new StreamTracker({
        kinesis: o.kinesisClient,
        source: o.streams,
        initialPosition: o.initialPosition,
        gracePeriodMs: o.formerStreamGracePeriodMs,
        now,
        signal: this.#loopsAbort.signal,
      });
    }
  }

  #streamLeases(streamId: string | undefined, stream: StreamRef, initial: InitialPosition): StreamLeases {
    const { options: o, events } = this.#deps;
    return new StreamLeases({
      kinesis: o.kinesisClient,
      store: this.store,
      streamId,
      stream,
      initialPosition: initial,
      signal: this.#loopsAbort.signal,
      cleanup:
        o.maxLeaseDeletesPerSync === 0
          ? undefined
          : {
              failoverTimeMs: o.failoverTimeMs,
              maxDeletesPerRun: o.maxLeaseDeletesPerSync,
              now: () => performance.now(),
              onDeleted: (lease, reason) => this.#deleted(streamId, lease.leaseKey, reason),
              onError: (error, operation, shardId) =>
                events.emit('error', { operation, error, shardId: this.#keyIn(streamId, shardId) }),
            },
    });
  }

  #keyIn(streamId: string | undefined, shardId: string): LeaseKey {
    return leaseKeyOf({ streamId, shardId });
  }

  #deleted(streamId: string | undefined, shardId: string, reason: LeaseDeletionReason): void {
    const { options: o, events, counters } = this.#deps;
    const leaseKey = leaseKeyOf({ streamId, shardId });
    counters.leasesDeleted++;
    events.emit('leaseDeleted', { shardId: leaseKey, reason });
    o.logger.info?.('lease deleted', { shardId: leaseKey, reason });
  }

  /**
   * The stream first (a misspelt name or a missing permission must not leave a table behind), then the lease
   * table, the heartbeat (no lease is ever held without one), and the first shard sync.
   */
  async start(): Promise<void> {
    if (this.#tracker) {
      const { added, failures } = await this.#tracker.refresh();
      if (failures[0]) throw failures[0];
      for (const stream of added) this.#track(stream);
    }
    const listings = new Map<StreamLeases, Shard[]>();
    for (const streamLeases of this.#streams.values())
      listings.set(streamLeases, await streamLeases.listShards());
    await this.store.ensureTable();
    await this.#liveness.start();
    const scan = this.#tracker ? await this.store.listLeases() : undefined;
    for (const [streamLeases, shards] of listings) await streamLeases.sync(shards, scan, false);
    this.#liveness.changed();
  }

  #track(stream: TrackedStream): StreamLeases {
    this.#tracked.set(stream.id, stream);
    let streamLeases = this.#streams.get(stream.id);
    if (!streamLeases) {
      streamLeases = this.#streamLeases(stream.id, stream.ref, stream.initialPosition);
      this.#streams.set(stream.id, streamLeases);
    }
    return streamLeases;
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
    if (this.#tracker) {
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

  /**
   * The stream behind a lease key, or `undefined` when this worker does not serve that stream (not on its
   * list, not in its grace period: a stream added on another worker's list first, or a former stream whose
   * leases await deletion). Such leases are left alone by this worker.
   */
  streamOf(leaseKey: LeaseKey): LeaseStream | undefined {
    const shard = shardOf(leaseKey);
    if (this.#tracker === undefined) {
      const leases = this.#streams.get('') as StreamLeases;
      const stream = leases.stream;
      const streamARN = 'StreamARN' in stream ? stream.StreamARN : undefined;
      const streamName =
        'StreamName' in stream
          ? stream.StreamName
          : stream.StreamARN.slice(stream.StreamARN.lastIndexOf('/') + 1);
      return {
        shard: { streamId: undefined, shardId: leaseKey },
        stream,
        streamName,
        streamARN,
        initialPosition: leases.initialPosition,
        leases,
      };
    }
    if (shard.streamId === undefined) return undefined;
    const tracked = this.#tracked.get(shard.streamId);
    const leases = this.#streams.get(shard.streamId);
    if (!tracked || !leases) return undefined;
    return {
      shard,
      stream: tracked.ref,
      streamName: tracked.streamName,
      streamARN: tracked.streamARN,
      initialPosition: tracked.initialPosition,
      leases,
    };
  }

  /** The shard's hash range, from its lease or its stream's last listing. */
  hashRangeOf(lease: Lease): HashKeyRange | undefined {
    const stream = this.streamOf(lease.leaseKey);
    return stream?.leases.hashRangeOf(lease, stream.shard.shardId);
  }

  /** At shard end: a child lease is created once every one of its parents has a lease (KCL rule). */
  async createChildLeases(leaseKey: LeaseKey, children: readonly ChildShard[]): Promise<void> {
    const stream = this.streamOf(leaseKey);
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
  }

  /**
   * Creates missing leases of every listed stream (on the taker's last lease scan: no scan of its own), then
   * deletes leases no longer needed, on the same reads: per stream, and the leases of former streams. One
   * stream failing (throttled, deleted) does not hold up the others.
   */
  async #syncAll(): Promise<void> {
    const scan = this.#taker.lastScan;
    const active = this.#tracker ? this.#tracker.active().map((stream) => stream.id) : [''];
    let created = 0;
    for (const id of active) {
      const streamLeases = this.#streams.get(id);
      if (!streamLeases || this.#loopsAbort.signal.aborted) continue;
      if (this.#tracker === undefined) {
        created += await streamLeases.sync(undefined, scan, true);
        continue;
      }
      try {
        created += await streamLeases.sync(undefined, scan, true);
      } catch (error) {
        this.#deps.events.emit('error', { operation: 'shardSync', error, streamName: id });
      }
    }
    if (created > 0) this.#liveness.changed();
    if (this.#tracker && scan) {
      await this.#deleteFormerStreams(this.#tracker, scan);
      for (const id of this.#tracked.keys()) {
        if (this.#tracker.byId(id)) continue; // forgotten once none of its leases is left
        this.#tracked.delete(id);
        this.#streams.delete(id);
      }
    }
  }

  /** Reads the stream list again: new streams get their leases at once; failures are reported. */
  async #refreshStreams(): Promise<void> {
    const tracker = this.#tracker as StreamTracker;
    const { added, removed, failures } = await tracker.refresh();
    for (const error of failures) this.#deps.events.emit('error', { operation: 'streamList', error });
    for (const stream of removed)
      this.#deps.options.logger.info?.('stream taken off the list', { streamName: stream.id });
    let created = 0;
    for (const stream of added) {
      this.#deps.options.logger.info?.('stream added', { streamName: stream.id });
      try {
        created += await this.#track(stream).sync(undefined, this.#taker.lastScan, false);
      } catch (error) {
        this.#deps.events.emit('error', { operation: 'shardSync', error, streamName: stream.id });
      }
    }
    if (created > 0 || added.length > 0) this.#liveness.changed();
  }

  /**
   * Deletes the leases of streams off the list for the grace period (bounded per run by
   * `maxLeaseDeletesPerSync`). Each is read again first and deleted only as read, so a lease renewed meanwhile
   * survives until the next run; its holder's next renewal then fails and it stops processing.
   */
  async #deleteFormerStreams(tracker: StreamTracker, scan: readonly Lease[]): Promise<void> {
    let budget = this.#deps.options.maxLeaseDeletesPerSync;
    if (budget === 0) return;
    const byStream = new Map<string, Lease[]>();
    for (const lease of scan) {
      const { streamId } = shardOf(lease.leaseKey);
      if (streamId === undefined) continue;
      const list = byStream.get(streamId);
      if (list) list.push(lease);
      else byStream.set(streamId, [lease]);
    }
    for (const id of tracker.formerStreamsDue(new Set(byStream.keys()))) {
      for (const lease of byStream.get(id) ?? []) {
        if (budget-- <= 0 || this.#loopsAbort.signal.aborted) return;
        try {
          const current = await this.store.getLease(lease.leaseKey);
          if (current && (await this.store.deleteLease(current))) {
            const { shardId } = shardOf(lease.leaseKey);
            this.#deleted(id, shardId, 'former-stream');
          }
        } catch (error) {
          this.#deps.events.emit('error', { operation: 'deleteLease', error, shardId: lease.leaseKey });
          return;
        }
      }
    }
  }
}
