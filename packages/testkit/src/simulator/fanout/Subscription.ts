import type { ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { ChosenFault, SubscriptionFault } from '../../faults/subscriptions.js';
import type { RegisteredConsumer } from '../ConsumerRegistry.js';
import { childShardsJson, readBatch, recordJson } from '../reads.js';
import type { SimulatedShard, SimulatedStream } from '../SimulatedStream.js';
import type { TokenBucket } from '../TokenBucket.js';
import { errorFrame, exceptionFrame, initialResponseFrame, shardEventFrame } from './eventFrames.js';

/** Records and bytes (data + partition key) one event carries at most (at least one record). */
const MAX_EVENT_RECORDS = 10_000;
const MAX_EVENT_BYTES = 1024 * 1024;

/** Everything one subscription works with. */
export interface SubscriptionContext {
  readonly id: number;
  readonly http2: ServerHttp2Stream;
  /** The connection under the HTTP/2 session (for the `sessionError` fault). */
  readonly socket: Socket | undefined;
  readonly stream: SimulatedStream;
  readonly shard: SimulatedShard;
  readonly consumer: RegisteredConsumer;
  /** Reading starts after this sequence number. */
  readonly start: bigint;
  /** The consumer's byte budget on this shard (shared by its successive subscriptions). */
  readonly bucket: TokenBucket;
  readonly lifetimeMs: number;
  readonly idleEventIntervalMs: number;
  readonly fault: ChosenFault | undefined;
  readonly onClosed: (subscription: Subscription) => void;
}

/**
 * One SubscribeToShard response: the initial-response frame, then SubscribeToShardEvents as records arrive
 * (idle ones every `idleEventIntervalMs`), paced by the consumer's byte budget and by HTTP/2 flow control
 * (a frame is written only after the previous one drained, so a reader that stops reading holds at most
 * one event here), until the lifetime ends it cleanly, the shard ends, a takeover or fault ends it, or the
 * client goes away. Its state changes only here; nothing escapes from its timers.
 */
export class Subscription {
  eventsSent = 0;
  recordsSent = 0;
  /** Record bytes (data + partition key) sent. */
  bytesSent = 0;
  private after: bigint;
  private closed = false;
  private expired = false;
  private lastEventAt = performance.now();
  private wake: (() => void) | undefined;
  /** Settles when the last frame written has left for the socket. */
  private lastWrite: Promise<void> = Promise.resolve();
  private readonly lifetime: NodeJS.Timeout;

  constructor(private readonly context: SubscriptionContext) {
    this.after = context.start;
    const { http2 } = context;
    http2.on('close', () => this.finish());
    // A client's reset arrives as an error, then close; nothing to do but finish.
    http2.on('error', () => {});
    this.lifetime = setTimeout(() => {
      this.expired = true;
      this.wake?.();
    }, context.lifetimeMs);
    try {
      http2.respond({
        ':status': 200,
        'content-type': 'application/vnd.amazon.eventstream',
        'x-amzn-requestid': `sim-subscription-${context.id}`,
      });
    } catch {
      // The client went away before the answer (the stream is already closed): nothing to send.
      this.finish();
      return;
    }
    this.run().catch(() => this.reset());
  }

  get open(): boolean {
    return !this.closed;
  }

  /** Ends the subscription with an exception event (another subscription took over, the consumer is gone). */
  endWith(exceptionType: string, message: string): void {
    if (this.closed) return;
    const { http2 } = this.context;
    if (!http2.destroyed) {
      http2.write(exceptionFrame(exceptionType, message));
      http2.end();
    }
    this.finish();
  }

  /**
   * Resets the stream: RST_STREAM with INTERNAL_ERROR. Destroying with an error is what sends a real reset;
   * `close(code)` first ends the stream, which the client reads as a clean end.
   */
  reset(): void {
    if (this.closed) return;
    if (!this.context.http2.destroyed)
      this.context.http2.destroy(new Error('stream reset by the Kinesis simulator'));
    this.finish();
  }

  private async run(): Promise<void> {
    if (!(await this.write(initialResponseFrame()))) return;
    const { shard, fault, bucket, idleEventIntervalMs } = this.context;
    while (!this.closed) {
      if (fault && this.eventsSent >= fault.afterEvents) return this.inject(fault.action);
      if (this.expired) return this.endCleanly();
      // An event never carries more than the budget holds (but always at least one record), so no second
      // of the subscription delivers more than the rate plus one record.
      const budget = Math.max(1, Math.min(MAX_EVENT_BYTES, Math.floor(bucket.level(performance.now()))));
      const batch = readBatch(shard, this.after, MAX_EVENT_RECORDS, budget);
      const idleFor = performance.now() - this.lastEventAt;
      if (batch.records.length === 0 && !batch.ended && idleFor < idleEventIntervalMs) {
        await this.sleep(idleEventIntervalMs - idleFor, true);
        continue;
      }
      const wait = batch.records.length > 0 ? bucket.waitMs(performance.now()) : 0;
      if (wait > 0) {
        await this.sleep(wait, false);
        continue;
      }
      bucket.spend(performance.now(), batch.bytes);
      this.after = batch.after;
      this.eventsSent += 1;
      this.recordsSent += batch.records.length;
      this.bytesSent += batch.bytes;
      this.lastEventAt = performance.now();
      const event = batch.ended
        ? {
            Records: batch.records.map(recordJson),
            MillisBehindLatest: 0,
            ChildShards: childShardsJson(this.context.stream, shard),
          }
        : {
            Records: batch.records.map(recordJson),
            ContinuationSequenceNumber: this.continuation(),
            MillisBehindLatest: batch.millisBehindLatest,
          };
      if (!(await this.write(shardEventFrame(event)))) return;
      if (batch.ended) return this.endCleanly();
    }
  }

  /** Where a new subscription would resume: a sequence number AFTER_SEQUENCE_NUMBER accepts for this shard. */
  private continuation(): string {
    const { shard } = this.context;
    const start = BigInt(shard.startingSequenceNumber);
    let at = this.after < start ? start : this.after;
    if (shard.endingSequenceNumber !== undefined && at > BigInt(shard.endingSequenceNumber)) {
      at = BigInt(shard.endingSequenceNumber);
    }
    return String(at);
  }

  /** Waits (at most 1 s: a reader may have stopped reading) until what was written has left for the socket. */
  private flushed(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, 1_000);
      void this.lastWrite.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private async inject(fault: SubscriptionFault): Promise<void> {
    const { http2, socket } = this.context;
    // Connection-level faults come after the events already written, not instead of them.
    if (fault.kind === 'reset' || fault.kind === 'goaway' || fault.kind === 'sessionError')
      await this.flushed();
    if (this.closed) return;
    switch (fault.kind) {
      case 'exception':
        return this.endWith(fault.exceptionType, fault.message);
      case 'error':
        if (await this.write(errorFrame(fault.errorCode, fault.message))) http2.end();
        return this.finish();
      case 'reset':
        return this.reset();
      case 'goaway': {
        // GOAWAY first, so the client learns the error code; the connection goes once the frame is out.
        const session = http2.session;
        session?.goaway(fault.code);
        setTimeout(() => session?.destroy(), 100).unref();
        return this.finish();
      }
      case 'sessionError':
        socket?.destroy();
        return this.finish();
      default:
        // 'stall' ('refuse' never gets here: the call was refused). Silent until the lifetime or the client ends it.
        while (!this.closed && !this.expired) await this.sleep(60_000, false);
        return this.endCleanly();
    }
  }

  private endCleanly(): void {
    if (this.closed) return;
    if (!this.context.http2.destroyed) this.context.http2.end();
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.lifetime);
    this.wake?.();
    this.context.onClosed(this);
  }

  /** Writes a frame; resolves once it is accepted or drained (false when the subscription ended meanwhile). */
  private write(frame: Uint8Array): Promise<boolean> {
    const { http2 } = this.context;
    if (this.closed || http2.destroyed) return Promise.resolve(false);
    let written: () => void = () => {};
    this.lastWrite = new Promise<void>((resolve) => {
      written = resolve;
    });
    if (http2.write(frame, () => written())) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (): void => {
        http2.off('drain', done);
        this.wake = undefined;
        resolve(!this.closed && !http2.destroyed);
      };
      http2.once('drain', done);
      this.wake = done;
    });
  }

  /** Waits `ms`, or until woken (lifetime, close), or with `onData` until the shard gets a record. */
  private sleep(ms: number, onData: boolean): Promise<void> {
    return new Promise((resolve) => {
      let unsubscribe: (() => void) | undefined;
      const done = (): void => {
        clearTimeout(timer);
        unsubscribe?.();
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, Math.ceil(ms)));
      this.wake = done;
      if (onData) unsubscribe = this.context.shard.records.subscribe(done);
    });
  }
}
