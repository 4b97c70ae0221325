import {
  type KinesisClient,
  type StartingPosition as SdkStartingPosition,
  SubscribeToShardCommand,
  type SubscribeToShardEvent,
  type SubscribeToShardEventStream,
} from '@aws-sdk/client-kinesis';
import { backoffDelay, sleep, sleepUntil } from '../backoff.js';
import { errorName, FetchError } from '../errors.js';
import { BackgroundRecordSource } from './BackgroundRecordSource.js';
import { bytesOf, type StartingPosition } from './ShardRecordSource.js';
import { withDeadline } from './withDeadline.js';

/** Options for {@link FanOutSubscriber}. */
export interface FanOutSubscriberOptions {
  kinesis: KinesisClient;
  consumerArn: string;
  shardId: string;
  start: StartingPosition;
  maxPrefetchBatches: number;
  maxPrefetchBytes: number;
  /** Nothing received for this long while waiting for an event: the subscription is replaced. */
  readTimeoutMs: number;
  /** Floor between two SubscribeToShard calls on this shard (AWS allows 1 per second). */
  minSubscribeIntervalMs: number;
  /** Wait after ResourceInUse (another subscription to this shard is less than 5 s old). */
  resourceInUseWaitMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  now: () => number;
  onError?: (error: FetchError) => void;
}

type Outcome = 'expired' | 'shard-ended' | 'stopped';

/**
 * Reads one shard through enhanced fan-out into a bounded queue. Each subscription lasts until AWS ends it
 * (after 5 minutes), fails, or stalls for `readTimeoutMs`; the next one continues after the last event
 * received (its `ContinuationSequenceNumber`), at most one subscribe per `minSubscribeIntervalMs`. While the
 * queue is full (a slow processor) the event stream is not read, so HTTP/2 flow control stops the sender and
 * memory stays bounded by `maxPrefetchBatches` and `maxPrefetchBytes` (plus one event). Every failure is
 * reported and retried with backoff (the longest at once when not retriable, at least `resourceInUseWaitMs`
 * after ResourceInUse); nothing is thrown.
 */
export class FanOutSubscriber extends BackgroundRecordSource {
  readonly #options: FanOutSubscriberOptions;
  /** Where the next subscription starts: after the last event received. */
  #continuation: string | undefined;

  constructor(options: FanOutSubscriberOptions) {
    super(options);
    this.#options = options;
  }

  protected async read(): Promise<void> {
    const o = this.#options;
    const signal = this.signal;
    let lastSubscribeAt = Number.NEGATIVE_INFINITY;
    let failures = 0;
    while (!signal.aborted) {
      if (!(await sleepUntil(lastSubscribeAt + o.minSubscribeIntervalMs, o.now, signal))) break;
      lastSubscribeAt = o.now();
      const subscription = new AbortController();
      const cancel = (): void => subscription.abort();
      signal.addEventListener('abort', cancel, { once: true });
      const received = { events: 0 };
      try {
        const outcome = await this.#subscribe(subscription, received);
        if (outcome !== 'expired') return;
        if (received.events > 0) {
          failures = 0;
        } else {
          // A subscription that ended before its first event did not work: reported, and backed off.
          failures++;
          o.onError?.(new FetchError(o.shardId, new Error('the subscription ended before its first event')));
          await sleep(backoffDelay(failures, o.backoffBaseMs, o.backoffMaxMs), signal);
        }
      } catch (error) {
        if (signal.aborted) break;
        failures = received.events > 0 ? 1 : failures + 1;
        const fetchError = new FetchError(o.shardId, error);
        o.onError?.(fetchError);
        await sleep(this.#delayAfter(error, fetchError.retriable, failures), signal);
      } finally {
        // Breaking out of the event stream does not close the HTTP/2 stream; aborting does.
        subscription.abort();
        signal.removeEventListener('abort', cancel);
      }
    }
  }

  #delayAfter(error: unknown, retriable: boolean, failures: number): number {
    const { backoffBaseMs, backoffMaxMs, resourceInUseWaitMs } = this.#options;
    const backoff = backoffDelay(failures, backoffBaseMs, backoffMaxMs);
    // Another subscription on this shard and consumer is younger than 5 s (a lease that just moved), or the
    // consumer is not ACTIVE yet: a call before that is refused again. Jitter spreads the shards of a worker.
    if (errorName(error) === 'ResourceInUseException') return resourceInUseWaitMs + backoff;
    // A permanent error (permissions, KMS key, consumer or stream gone) is not hammered: the longest wait.
    return retriable ? backoff : backoffMaxMs;
  }

  /** One subscription, read until it ends; throws what failed it. */
  async #subscribe(subscription: AbortController, received: { events: number }): Promise<Outcome> {
    const o = this.#options;
    const response = await withDeadline(
      o.kinesis.send(
        new SubscribeToShardCommand({
          ConsumerARN: o.consumerArn,
          ShardId: o.shardId,
          StartingPosition: this.#position(),
        }),
        { abortSignal: subscription.signal },
      ),
      o.readTimeoutMs,
      subscription,
    );
    if (!response.EventStream) throw new Error('SubscribeToShard returned no event stream');
    const events = response.EventStream[Symbol.asyncIterator]();
    for (;;) {
      if (!(await this.queue.waitForRoom())) return 'stopped';
      const step = await withDeadline(events.next(), o.readTimeoutMs, subscription);
      if (subscription.signal.aborted) return 'stopped';
      if (step.done) return 'expired'; // AWS ends every subscription after 5 minutes, cleanly
      const event = eventOf(step.value);
      if (!event) continue; // an event type this SDK does not know
      received.events++;
      if (this.#push(event)) return 'shard-ended';
    }
  }

  /** Queues an event's records; returns whether the shard has ended. */
  #push(event: SubscribeToShardEvent): boolean {
    const records = event.Records ?? [];
    if (event.MillisBehindLatest !== undefined) this.millisBehindLatest = event.MillisBehindLatest;
    // No continuation sequence number: the shard is closed and fully read (ChildShards name its children).
    const shardEnded = !event.ContinuationSequenceNumber;
    if (event.ContinuationSequenceNumber) this.#continuation = event.ContinuationSequenceNumber;
    if (records.length > 0 || shardEnded) {
      // Events that arrive while the processor is busy merge into one batch (see PrefetchQueue.pushMerging).
      this.queue.pushMerging({
        records,
        millisBehindLatest: event.MillisBehindLatest,
        shardEnded,
        childShards: event.ChildShards ?? [],
        bytes: bytesOf(records),
      });
    }
    return shardEnded;
  }

  #position(): SdkStartingPosition {
    if (this.#continuation) return { Type: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: this.#continuation };
    const start = this.#options.start;
    switch (start.type) {
      case 'AT_SEQUENCE_NUMBER':
      case 'AFTER_SEQUENCE_NUMBER':
        return { Type: start.type, SequenceNumber: start.sequenceNumber };
      case 'AT_TIMESTAMP':
        return { Type: start.type, Timestamp: start.timestamp };
      default:
        return { Type: start.type };
    }
  }
}

/**
 * The event of a stream item, or `undefined` for an unknown member. Exception members are thrown: the SDK
 * throws exception frames itself, but the union models them as members too.
 */
function eventOf(item: SubscribeToShardEventStream): SubscribeToShardEvent | undefined {
  if (item.SubscribeToShardEvent) return item.SubscribeToShardEvent;
  for (const [key, value] of Object.entries(item)) {
    if (key === '$unknown' || value === undefined) continue;
    throw value instanceof Error
      ? value
      : Object.assign(new Error(`${key} in the event stream`), { name: key });
  }
  return undefined;
}
