import type { Shard } from '@aws-sdk/client-kinesis';
import type { TypedEvents } from '../events.js';
import type { Counters } from '../metrics.js';
import type { ResolvedOptions } from '../options.js';
import { StreamTracker, type TrackedStream } from '../streams/StreamTracker.js';
import type { InitialPosition, StreamRef } from '../types.js';
import type { Lease } from './Lease.js';
import type { LeaseDeletionReason } from './LeaseCleaner.js';
import type { LeaseStore } from './LeaseStore.js';
import { type LeaseKey, leaseKeyOf, type StreamShard, shardOf } from './leaseKeys.js';
import { StreamLeases } from './StreamLeases.js';

/** The stream behind a lease, as the worker reads its shard. */
export interface LeaseStream {
  readonly shard: StreamShard;
  readonly stream: StreamRef;
  /** The stream's name (for the processor and metrics). */
  readonly streamName: string;
  readonly streamARN: string | undefined;
  readonly initialPosition: InitialPosition;
  /** The stream's leases by shard id (parent checks, child leases, hash ranges). */
  readonly leases: StreamLeases;
}

/** Options for {@link StreamRegistry}. */
export interface StreamRegistryOptions {
  options: ResolvedOptions;
  events: TypedEvents;
  counters: Counters;
  /** The whole lease table. */
  store: LeaseStore;
  signal: AbortSignal;
}

/**
 * The application's streams on the lease side: the one stream of a single-stream application, or the list of a
 * multi-stream one (read again on {@link refresh}), each with its {@link StreamLeases}; and the deletion of
 * former streams' leases after the grace period. The methods that sync return how many leases they created.
 */
export class StreamRegistry {
  readonly #o: StreamRegistryOptions;
  /** Per stream, by serialized stream identity (`''` for the stream of a single-stream application). */
  readonly #streams = new Map<string, StreamLeases>();
  /** The stream list of a multi-stream application; `undefined` in a single-stream one. */
  readonly #tracker: StreamTracker | undefined;
  /** Streams served, by identity: their names and ARNs, for {@link streamOf}. */
  readonly #tracked = new Map<string, TrackedStream>();

  constructor(options: StreamRegistryOptions) {
    this.#o = options;
    const o = options.options;
    if (o.streams === undefined) {
      this.#streams.set('', this.#streamLeases(undefined, o.stream as StreamRef, o.initialPosition));
    } else {
      this.#tracker = new StreamTracker({
        kinesis: o.kinesisClient,
        source: o.streams,
        initialPosition: o.initialPosition,
        gracePeriodMs: o.formerStreamGracePeriodMs,
        now: () => performance.now(),
        signal: options.signal,
      });
    }
  }

  /** At start: resolves the list (every stream must be readable) and lists each stream's shards. */
  async listShards(): Promise<Map<StreamLeases, Shard[]>> {
    if (this.#tracker) {
      const { added, failures } = await this.#tracker.refresh();
      if (failures[0]) throw failures[0];
      for (const stream of added) this.#track(stream);
    }
    const listings = new Map<StreamLeases, Shard[]>();
    for (const streamLeases of this.#streams.values())
      listings.set(streamLeases, await streamLeases.listShards());
    return listings;
  }

  /** At start: the first shard sync of every stream (multi-stream: on one scan of the table). */
  async firstSync(listings: ReadonlyMap<StreamLeases, Shard[]>): Promise<number> {
    const scan = this.#tracker ? await this.#o.store.listLeases() : undefined;
    let created = 0;
    for (const [streamLeases, shards] of listings) created += await streamLeases.sync(shards, scan, false);
    return created;
  }

  /**
   * The stream behind a lease key, or `undefined` when this worker does not serve that stream (not on its
   * list, not in its grace period: a stream added on another worker's list first, or a former stream whose
   * leases await deletion). Such leases are left alone by this worker.
   */
  streamOf(leaseKey: LeaseKey): LeaseStream | undefined {
    if (this.#tracker === undefined) {
      const leases = this.#streams.get('') as StreamLeases;
      const stream = leases.stream;
      const streamARN = 'StreamARN' in stream ? stream.StreamARN : undefined;
      const streamName =
        'StreamName' in stream
          ? stream.StreamName
          : stream.StreamARN.slice(stream.StreamARN.lastIndexOf('/') + 1);
      const shard = { streamId: undefined, shardId: leaseKey };
      return { shard, stream, streamName, streamARN, initialPosition: leases.initialPosition, leases };
    }
    const shard = shardOf(leaseKey);
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

  /**
   * Creates missing leases of every listed stream (on `scan`, the taker's last lease scan: no scan of its own),
   * then deletes leases no longer needed, on the same reads: per stream, and the leases of former streams. One
   * stream failing (throttled, deleted) does not hold up the others.
   */
  async syncAll(scan: readonly Lease[] | undefined): Promise<number> {
    const tracker = this.#tracker;
    if (tracker === undefined) return (this.#streams.get('') as StreamLeases).sync(undefined, scan, true);
    let created = 0;
    for (const { id } of tracker.active()) {
      const streamLeases = this.#streams.get(id);
      if (!streamLeases || this.#o.signal.aborted) continue;
      try {
        created += await streamLeases.sync(undefined, scan, true);
      } catch (error) {
        this.#o.events.emit('error', { operation: 'shardSync', error, streamName: id });
      }
    }
    if (scan) {
      await this.#deleteFormerStreams(tracker, scan);
      for (const id of this.#tracked.keys()) {
        if (tracker.byId(id)) continue; // forgotten once none of its leases is left
        this.#tracked.delete(id);
        this.#streams.delete(id);
      }
    }
    return created;
  }

  /** Multi-stream: reads the list again; new streams get their leases at once; failures are reported. */
  async refresh(scan: readonly Lease[] | undefined): Promise<number> {
    const tracker = this.#tracker;
    if (tracker === undefined) return 0;
    const { events, options } = this.#o;
    const { added, removed, failures } = await tracker.refresh();
    for (const error of failures) events.emit('error', { operation: 'streamList', error });
    for (const stream of removed)
      options.logger.info?.('stream taken off the list', { streamName: stream.id });
    let created = 0;
    for (const stream of added) {
      options.logger.info?.('stream added', { streamName: stream.id });
      try {
        created += await this.#track(stream).sync(undefined, scan, false);
      } catch (error) {
        events.emit('error', { operation: 'shardSync', error, streamName: stream.id });
      }
    }
    return created;
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

  #streamLeases(streamId: string | undefined, stream: StreamRef, initial: InitialPosition): StreamLeases {
    const { options: o, events, store, signal } = this.#o;
    return new StreamLeases({
      kinesis: o.kinesisClient,
      store,
      streamId,
      stream,
      initialPosition: initial,
      signal,
      cleanup:
        o.maxLeaseDeletesPerSync === 0
          ? undefined
          : {
              failoverTimeMs: o.failoverTimeMs,
              maxDeletesPerRun: o.maxLeaseDeletesPerSync,
              now: () => performance.now(),
              onDeleted: (lease, reason) =>
                this.#deleted(leaseKeyOf({ streamId, shardId: lease.leaseKey }), reason),
              onError: (error, operation, shardId) =>
                events.emit('error', { operation, error, shardId: leaseKeyOf({ streamId, shardId }) }),
            },
    });
  }

  #deleted(leaseKey: LeaseKey, reason: LeaseDeletionReason): void {
    const { options: o, events, counters } = this.#o;
    counters.leasesDeleted++;
    events.emit('leaseDeleted', { shardId: leaseKey, reason });
    o.logger.info?.('lease deleted', { shardId: leaseKey, reason });
  }

  /**
   * Deletes the leases of streams off the list for the grace period (bounded per run by
   * `maxLeaseDeletesPerSync`). Each is read again first and deleted only as read, so a lease renewed meanwhile
   * survives until the next run; its holder's next renewal then fails and it stops processing.
   */
  async #deleteFormerStreams(tracker: StreamTracker, scan: readonly Lease[]): Promise<void> {
    const { options, store, events, signal } = this.#o;
    let budget = options.maxLeaseDeletesPerSync;
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
        if (budget-- <= 0 || signal.aborted) return;
        try {
          const current = await store.getLease(lease.leaseKey);
          if (current && (await store.deleteLease(current))) this.#deleted(lease.leaseKey, 'former-stream');
        } catch (error) {
          events.emit('error', { operation: 'deleteLease', error, shardId: lease.leaseKey });
          return;
        }
      }
    }
  }
}
