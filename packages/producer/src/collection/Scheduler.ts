import type { Pipeline } from '../pipeline.js';
import type { ShardBuffer } from '../routing/ShardBuffer.js';
import type { ShardRouter } from '../routing/ShardRouter.js';
import type { Dispatcher } from '../sending/Dispatcher.js';
import type { Settlement } from '../settlement/Settlement.js';
import type { Wakeup } from '../Wakeup.js';
import type { KeyGate } from './KeyGate.js';
import type { RateLimiter } from './RateLimiter.js';
import type { RecordLimits } from './RecordLimits.js';
import type { RequestBuilder } from './RequestBuilder.js';

// A shard's buffer goes out before its linger time once this much waits (the KPL's 256 KiB trigger).
const READY_BYTES = 256 * 1024;

/** The stages the scheduler drives. */
export interface SchedulerDeps {
  router: ShardRouter;
  limiter: RateLimiter;
  gate: KeyGate;
  limits: RecordLimits;
  settlement: Settlement;
  dispatcher: Dispatcher;
}

/**
 * The producer's loop (run by `Wakeup`): expires what is due, builds requests from the shard buffers that
 * are ready (linger time over, enough bytes, a flush, a retry due) within the rate limits, the ordered-mode
 * gate and `maxInFlightRequests`, hands them to the dispatcher, and sets the next wake-up.
 */
export class Scheduler {
  /** Records with a sequence up to this go out without waiting for their linger time (`flush()`). */
  flushUpTo = -1;
  private readonly readyBytes: number;
  private readonly readyCount: number;
  // What `buffered` uses, held directly: it runs once per record.
  private readonly wakeup: Wakeup;
  private readonly unrouted: ShardBuffer;
  private readonly lingerMs: number;
  private rotation = 0;
  // The request being built by the running tick: what an internal error there must not lose.
  private building: RequestBuilder | undefined;

  constructor(
    private readonly pipeline: Pipeline,
    private readonly deps: SchedulerDeps,
  ) {
    const o = pipeline.options;
    this.readyBytes = Math.min(READY_BYTES, o.collectionMaxBytes);
    this.readyCount = o.aggregation ? Number.POSITIVE_INFINITY : o.collectionMaxCount;
    this.wakeup = pipeline.wakeup;
    this.unrouted = deps.router.unrouted;
    this.lingerMs = o.maxBufferedTimeMs;
  }

  /** A record was buffered at `now`: look at once if its buffer is ready, else when its linger time ends. */
  buffered(buffer: ShardBuffer, now: number): void {
    const wakeup = this.wakeup;
    // Without a map, tick loads one (or fails the record at once after a non-retriable listing error).
    if (buffer === this.unrouted) wakeup.soon();
    else if (buffer.bytes >= this.readyBytes || buffer.length >= this.readyCount) wakeup.soon();
    else wakeup.at(now + this.lingerMs);
  }

  private isReady(buffer: ShardBuffer, now: number): boolean {
    if (buffer.length === 0) return false;
    if (buffer.bytes >= this.readyBytes || buffer.length >= this.readyCount) return true;
    const oldest = buffer.oldestFresh();
    if (
      oldest !== undefined &&
      (oldest.seq <= this.flushUpTo || oldest.receivedAt + this.pipeline.options.maxBufferedTimeMs <= now)
    ) {
      return true;
    }
    return buffer.hasDueRetry(now);
  }

  /**
   * Runs from a timer or setImmediate, so it must never throw: an internal error fails the records the
   * request being built had taken (retriable: nothing was sent), is reported, and the producer goes on.
   */
  tick(): void {
    try {
      this.tickUnguarded();
    } catch (error) {
      const builder = this.building;
      this.building = undefined;
      const message = this.pipeline.reportInternalError('while building a request', error);
      // Nothing of it was sent: its rate allowance goes back.
      for (const entry of builder?.entries ?? []) entry.take.owner.cancel(entry.take);
      const taken = builder === undefined ? [] : builder.entries.flatMap((entry) => entry.records);
      this.deps.settlement.failAll(
        taken.filter((record) => !record.settled),
        { code: 'InternalProducerError', message, retriable: true },
        error,
      );
      // Look again later (not at once: the same state may fail the same way); expiry still runs then.
      this.pipeline.wakeup.at(Date.now() + this.pipeline.options.retryBaseDelayMs);
    }
  }

  /** Expires what is due, sends what is ready, and sets the timer for the next thing to do. */
  private tickUnguarded(): void {
    const now = Date.now();
    const { router, settlement, dispatcher, limiter, limits, gate } = this.deps;
    const options = this.pipeline.options;
    // Records that never got a map carry why: the listing's last failure.
    for (const record of router.unrouted.removeExpired(now)) settlement.expire(record, router.lastMapError);
    for (const buffer of router.buffers.values()) {
      for (const record of buffer.removeExpired(now)) settlement.expire(record);
    }
    router.upkeep(now);
    let nextWake = Number.POSITIVE_INFINITY;
    const buffers = [...router.buffers.values()];
    while (dispatcher.inFlight < options.maxInFlightRequests && !router.holdsSends()) {
      const ready = buffers.filter((buffer) => this.isReady(buffer, now));
      if (ready.length === 0) break;
      const builder = limits.newRequestBuilder(limits.recordLimit());
      this.building = builder;
      // Rotate the starting shard so one busy shard cannot always fill the request first.
      this.rotation = (this.rotation + 1) % ready.length;
      for (let i = 0; i < ready.length && !builder.full; i++) {
        const buffer = ready[(this.rotation + i) % ready.length] as ShardBuffer;
        const { stop, waitMs } = builder.fillFrom(buffer, {
          now,
          limiter: limiter.get(buffer.shardId, now),
          busyKeys: gate,
          reject: (record, error) => {
            const message = error instanceof Error ? error.message : String(error);
            settlement.failAll([record], { code: 'InvalidRecord', message, retriable: false }, error);
          },
        });
        if (stop === 'rateLimited') nextWake = Math.min(nextWake, now + Math.max(1, waitMs));
      }
      this.building = undefined;
      if (builder.entries.length === 0) break;
      dispatcher.dispatch(builder.entries, builder.userRecords);
    }
    // Next: a linger time running out, a backoff ending, a deadline, or the limiter refilling (above).
    // Only future times count: records already due but held back (maxInFlightRequests, ordered keys in
    // flight) are picked up when a request completes, so a blocked buffer never makes the timer spin.
    for (const buffer of router.buffers.values()) {
      if (buffer.length === 0) continue;
      const oldest = buffer.oldestFresh();
      const lingerEnd =
        oldest === undefined ? Number.POSITIVE_INFINITY : oldest.receivedAt + options.maxBufferedTimeMs;
      if (lingerEnd > now) nextWake = Math.min(nextWake, lingerEnd);
      nextWake = Math.min(nextWake, buffer.nextRetryAfter(now));
      nextWake = Math.min(nextWake, buffer.nextDeadline());
    }
    nextWake = Math.min(nextWake, router.unrouted.nextDeadline());
    if (nextWake !== Number.POSITIVE_INFINITY) this.pipeline.wakeup.at(Math.max(nextWake, now + 1));
  }
}
