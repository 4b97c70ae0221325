import { partitionKeyHash, partitionKeyHashWords } from '@shardline/aggregation';
import type { Entry } from '../collection/RequestBuilder.js';
import type { ClassifiedError } from '../errors.js';
import type { MetricsRecorder } from '../metrics.js';
import type { PendingRecord } from '../settlement/PendingRecord.js';
import { markParked, markUnparked, markWrongShard } from '../settlement/RecordLifecycle.js';
import type { ShardRange } from '../types.js';
import { ShardBuffer } from './ShardBuffer.js';
import { type ListingScope, ShardMap, ShardMapError, type ShardMapOptions } from './ShardMap.js';

// Scratch for the hash key of the record being routed (routing is synchronous, so one suffices).
const hashWords = new Uint32Array(4);

/**
 * Why the shard map is (re)loaded: the first records (`initial`), an answer from an unpredicted shard
 * (`wrongShard`), its age while records flow (`periodic`), or records about to go out from a map nothing has
 * confirmed for `shardMapRefreshIntervalMs` (`stale`: they wait for the listing).
 */
export type RefreshReason = 'initial' | 'wrongShard' | 'periodic' | 'stale';

// A record inside an aggregate that Kinesis stored on a shard other than the predicted one (the map was
// stale). Whether that shard owns the record's own hash key is known only once the map is fresh again.
interface Parked {
  record: PendingRecord;
  entry: Entry;
  shardId: string;
  sequenceNumber: string;
  subSequenceNumber: number;
}

/** What the router asks of the producer. */
export interface RouterHost {
  succeed(record: PendingRecord, shardId: string, sequenceNumber: string, subSequenceNumber: number): void;
  failAll(records: PendingRecord[], error: ClassifiedError, cause: unknown): void;
  /** A parked record is settled or back in a buffer: it no longer counts as in flight (ordered mode). */
  unparked(record: PendingRecord): void;
  mapLoaded(reason: RefreshReason, shards: readonly ShardRange[]): void;
  /** A try of a listing failed (reported at once, not when the listing gives up). */
  mapFailed(error: ClassifiedError): void;
  /** A bug in handling a listing's outcome: reported, never thrown from the promise callback. */
  internalError?(error: unknown): void;
  wakeSoon(): void;
  wakeAt(time: number): void;
}

/** Settings of a `ShardRouter`. */
export interface RouterOptions extends ShardMapOptions {
  recordTtlMs: number;
  /** Age at which the map is listed again while records flow, and after which an unconfirmed map is stale. */
  refreshIntervalMs: number;
  reshardResend: 'outOfRange' | 'wholeAggregate';
  recorder: MetricsRecorder;
}

/**
 * Where records wait before they are sent: one buffer per shard of the shard map, plus records put before the
 * first map arrived. Owns the map's lifecycle: the first load, refreshes after a reshard (coalesced, spaced by
 * the map's backoff), re-routing what is buffered when the map changes, and the fate of records stored inside
 * an aggregate that a reshard sent to an unpredicted shard ("parked" until a fresh map can judge them).
 */
export class ShardRouter {
  readonly shardMap: ShardMap;
  /** One buffer per open shard with records waiting. */
  buffers = new Map<string, ShardBuffer>();
  /** Records put before the first shard map arrived. */
  readonly unrouted = new ShardBuffer('');
  private parked: Parked[] = [];
  private refreshing = false;
  // A refresh asked for while the last failed listing's backoff runs; `upkeep` starts it when that ends.
  private refreshWanted: RefreshReason | undefined;
  // The last listing failed for good (AccessDenied, stream not found): records put before its backoff ends
  // fail with it at once instead of each starting a ListShards call.
  private mapFailure: { error: ClassifiedError; cause: unknown } | undefined;
  /** The last failed try of a listing since the last success: why unrouted records could not be sent. */
  lastMapError: ClassifiedError | undefined;
  // When a PutRecords answer last showed the map right (every entry on its predicted shard), epoch ms.
  private confirmedAt = 0;
  // Sends wait for a listing under way because the map was stale (see `holdsSends`).
  private holding = false;

  constructor(
    private readonly options: RouterOptions,
    private readonly host: RouterHost,
  ) {
    this.shardMap = new ShardMap({ ...options, onTryFailed: (error) => this.onTryFailed(error) });
  }

  /** The buffer a record waits in: its shard's, or the unrouted one while no map is loaded. */
  route(record: PendingRecord): ShardBuffer {
    if (!this.shardMap.ready) return this.unrouted;
    const shard = this.lookup(record);
    if (shard === undefined) return this.unrouted;
    let buffer = this.buffers.get(shard.shardId);
    if (buffer === undefined) {
      buffer = new ShardBuffer(shard.shardId);
      this.buffers.set(shard.shardId, buffer);
    }
    return buffer;
  }

  /**
   * Whether records must not go out now: the map was stale (unconfirmed for `refreshIntervalMs`, e.g. after
   * the producer idled while another process resharded) and its listing is under way. Bounded: the first
   * failed try ends the wait (the old map is used; wrong-shard answers still correct it).
   */
  holdsSends(): boolean {
    return this.holding;
  }

  /**
   * A PutRecords answer to a request built from map `requestMapVersion`: a wrong-shard answer refreshes the
   * map (see {@link onWrongShard}); a right one confirms the current map, which then needs no listing before
   * the next send.
   */
  onAnswered(requestMapVersion: number, wrongShard: boolean): void {
    if (wrongShard) this.onWrongShard(requestMapVersion);
    else if (requestMapVersion === this.shardMap.version) this.confirmedAt = Date.now();
  }

  /**
   * Called on every tick: loads a first map for unrouted records, starts a refresh that had to wait, and
   * lists the shards again when the map is older than `refreshIntervalMs` while records wait to be sent
   * (an idle producer lists nothing).
   */
  upkeep(now: number): void {
    // Normally empty once a map is loaded; not so if handling the load failed (see `guarded`): route them now.
    if (this.unrouted.length > 0 && this.shardMap.ready && !this.refreshing) {
      this.reroute(this.unrouted.removeAll());
    }
    if (this.unrouted.length > 0) {
      const failure = this.mapFailure;
      if (failure !== undefined && now < this.shardMap.retryAt) {
        this.host.failAll(this.unrouted.removeAll(), failure.error, failure.cause);
      } else {
        this.refresh('initial');
      }
    }
    if (this.refreshWanted !== undefined) this.refresh(this.refreshWanted);
    const map = this.shardMap;
    if (
      map.ready &&
      !this.refreshing &&
      now - map.listedAt >= this.options.refreshIntervalMs &&
      this.hasBuffered()
    ) {
      const stale = now - Math.max(map.listedAt, this.confirmedAt) >= this.options.refreshIntervalMs;
      if (this.refresh(stale ? 'stale' : 'periodic') && stale) this.holding = true;
    }
  }

  private hasBuffered(): boolean {
    for (const buffer of this.buffers.values()) if (buffer.length > 0) return true;
    return false;
  }

  /** Holds a record stored in a misrouted aggregate until a fresh map tells whether its shard owns it. */
  park(record: PendingRecord, entry: Entry, shardId: string, sequenceNumber: string, index: number): void {
    markParked(record);
    this.parked.push({ record, entry, shardId, sequenceNumber, subSequenceNumber: index });
  }

  /**
   * A request answered with a shard other than the predicted one. An answer to a request built from the
   * current map means that map is stale; one built from an older map is judged by the current map.
   */
  onWrongShard(requestMapVersion: number): void {
    if (requestMapVersion === this.shardMap.version) this.refresh('wrongShard');
    else if (!this.refreshing) this.settleParked(false);
  }

  /** Cancels a refresh waiting out its backoff (on close). */
  stop(): void {
    this.shardMap.stop();
  }

  /** The open shard that owns the record's hash key (MD5 of its partition key, or its explicit hash key). */
  private lookup(record: PendingRecord): ShardRange | undefined {
    const { explicitHashKey } = record;
    if (explicitHashKey !== undefined) return this.shardMap.lookup(BigInt(explicitHashKey));
    // Computed, not stored (see `PendingRecord`); as words, so routing a record builds no BigInt.
    partitionKeyHashWords(record.partitionKey, hashWords);
    return this.shardMap.lookupWords(hashWords);
  }

  /**
   * Whether the shard a record was stored on owns its hash key, by that shard's own range: what a
   * range-filtering consumer of that shard checks. The shard may have split again since it stored the record
   * (two reshards within one refresh); its range, from the listing's closed shards, still decides. A shard
   * the listing does not know is judged by the current map.
   */
  private owns(shardId: string, record: PendingRecord): boolean {
    const range = this.shardMap.rangeOf(shardId);
    if (range === undefined) return this.lookup(record)?.shardId === shardId;
    const key =
      record.explicitHashKey === undefined
        ? partitionKeyHash(record.partitionKey)
        : BigInt(record.explicitHashKey);
    return key >= range.startingHashKey && key <= range.endingHashKey;
  }

  /** Starts a listing; false when none started (one is under way, or a failed one's backoff runs). */
  private refresh(reason: RefreshReason, scope: ListingScope = 'open'): boolean {
    if (this.refreshing || (reason === 'initial' && this.shardMap.ready)) return false;
    const retryAt = this.shardMap.retryAt;
    if (Date.now() < retryAt) {
      // A listing failed moments ago: try again when its backoff ends, not in a loop of ListShards calls.
      if (this.refreshWanted !== 'wrongShard') this.refreshWanted = reason;
      this.host.wakeAt(retryAt);
      return false;
    }
    this.refreshWanted = undefined;
    this.mapFailure = undefined;
    this.refreshing = true;
    // Records wait for the first map and for wrong-shard corrections up to their TTL; a routine listing
    // gives up sooner (the current map still routes meanwhile).
    const patient = reason === 'initial' || reason === 'wrongShard';
    const budget = patient ? this.options.recordTtlMs : this.options.requestTimeoutMs;
    this.shardMap.refresh(Date.now() + budget, scope).then(
      () => {
        this.refreshing = false;
        this.holding = false;
        this.guarded(() => this.onLoaded(reason, scope));
      },
      (error: unknown) => {
        this.refreshing = false;
        this.releaseHold();
        this.guarded(() => this.onFailed(error));
      },
    );
    return true;
  }

  /** Reports a failed try of a listing at once (runs inside the listing's promise: never throws). */
  private onTryFailed(error: ClassifiedError): void {
    this.lastMapError = error;
    this.releaseHold();
    this.guarded(() => this.host.mapFailed(error));
  }

  /**
   * Ends a wait for a stale map's listing after its first failed try (the listing goes on in the background):
   * records wait for one ListShards call at most, then the old map routes them, and the map counts as
   * confirmed for another interval so they are not held again at once.
   */
  private releaseHold(): void {
    if (!this.holding) return;
    this.holding = false;
    this.confirmedAt = Date.now();
    this.host.wakeSoon();
  }

  // These run in a promise callback: an error there would be an unhandled rejection, which ends the process.
  private guarded(handle: () => void): void {
    try {
      handle();
    } catch (error) {
      if (this.host.internalError) this.host.internalError(error);
      else process.emitWarning(`shardline producer: internal error: ${String(error)}`);
      this.host.wakeSoon();
    }
  }

  private onLoaded(reason: RefreshReason, scope: ListingScope): void {
    this.lastMapError = undefined;
    this.host.mapLoaded(reason, this.shardMap.shards);
    // Re-route everything buffered: a reshard moves hash ranges to new shards.
    const all = this.unrouted.removeAll();
    for (const buffer of this.buffers.values()) all.push(...buffer.removeAll());
    all.sort((a, b) => a.seq - b.seq);
    this.buffers = new Map();
    this.reroute(all);
    if (scope === 'open' && this.parked.some((p) => this.shardMap.rangeOf(p.shardId) === undefined)) {
      // A parked record's shard opened and closed between two listings of open shards: only a listing of
      // every shard within retention knows its range, which judges the record.
      if (this.refresh('wrongShard', 'all')) return;
    }
    this.settleParked(false);
    this.host.wakeSoon();
  }

  /** Routes records taken out of their buffers (in put order) to the shards of the current map. */
  private reroute(records: readonly PendingRecord[]): void {
    for (const record of records) this.route(record).putBack(record);
  }

  private onFailed(error: unknown): void {
    // Every try was reported as it failed (`onTryFailed`); here only what the final failure decides.
    const classified: ClassifiedError =
      error instanceof ShardMapError
        ? error.classified
        : { code: 'UnknownError', message: String(error), retriable: true, cause: error };
    if (!classified.retriable) {
      // Without a map nothing can be routed: fail fast what waits for one (AccessDenied, stream not found,
      // no credentials), and what is put until the next listing may start.
      const cause = classified.cause ?? error;
      this.mapFailure = { error: classified, cause };
      this.host.failAll(this.unrouted.removeAll(), classified, cause);
    }
    // Parked records are stored; without a fresh map their shard's ownership cannot be checked, so they are
    // reported where Kinesis put them.
    this.settleParked(true);
    this.host.wakeSoon();
  }

  /** Decides the fate of records stored inside an aggregate that Kinesis put on an unpredicted shard. */
  private settleParked(trustKinesis: boolean): void {
    const parked = this.parked;
    this.parked = [];
    const now = Date.now();
    const misplaced = (p: Parked): boolean => !trustKinesis && !this.owns(p.shardId, p.record);
    // KCL 2.x drops a whole aggregate with any member outside the shard's range; in that mode such an
    // aggregate's members are all sent again, not only the misplaced ones.
    const broken = new Set<Entry>();
    if (this.options.reshardResend === 'wholeAggregate') {
      for (const p of parked) if (misplaced(p)) broken.add(p.entry);
    }
    for (const p of parked) {
      const { record, shardId, sequenceNumber, subSequenceNumber } = p;
      markUnparked(record);
      if (!misplaced(p) && !broken.has(p.entry)) {
        this.host.succeed(record, shardId, sequenceNumber, subSequenceNumber);
      } else {
        // Stored on a shard that does not own its hash key (or next to such a record, in wholeAggregate
        // mode): range-filtering consumers drop it there, so it is sent again to its owner.
        markWrongShard(
          record,
          misplaced(p)
            ? `stored on ${shardId}, which does not own its hash key after a reshard`
            : `stored on ${shardId} in an aggregate with members of another shard after a reshard`,
          now,
        );
        this.options.recorder.error('WrongShard');
        this.route(record).insert(record);
      }
      this.host.unparked(record);
    }
    if (parked.length > 0) this.host.wakeSoon();
  }
}
