import {
  DescribeStreamConsumerCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
  RegisterStreamConsumerCommand,
} from '@aws-sdk/client-kinesis';
import { backoffDelay, sleep } from '../backoff.js';
import { errorName, isRetriableAwsError, StreamError } from '../errors.js';
import type { StreamRef } from '../types.js';

/** Options of {@link StreamConsumerRegistration}. */
export interface StreamConsumerRegistrationOptions {
  kinesis: KinesisClient;
  stream: StreamRef;
  consumerName: string;
  /** Bound on the whole wait, registration included. */
  timeoutMs: number;
  /** Pace of DescribeStreamConsumer while the consumer is CREATING (jittered +-50%). */
  describeIntervalMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  signal?: AbortSignal | undefined;
  /** Each failed call that will be retried. */
  onError?: (error: StreamError) => void;
}

/**
 * Finds the ARN of a named stream consumer, registering it when the stream has none of that name, and waits
 * until it is ACTIVE (subscribing earlier is refused). Safe when many workers start at once: a worker whose
 * RegisterStreamConsumer loses the race (ResourceInUse: the name exists) or is refused because 5 consumers
 * are already CREATING on the stream (LimitExceeded) goes back to describing. Never deregisters.
 */
export class StreamConsumerRegistration {
  readonly #o: StreamConsumerRegistrationOptions;
  #failures = 0;
  #signal: AbortSignal | undefined;

  constructor(options: StreamConsumerRegistrationOptions) {
    this.#o = options;
  }

  /**
   * The consumer's ARN once ACTIVE. Rejects with a `StreamError` (code `STREAM`) on an error no retry can fix
   * (permissions, a missing stream), or, retriable, when `timeoutMs` passes or `signal` aborts first.
   */
  async activeConsumerArn(): Promise<string> {
    const deadline = Date.now() + this.#o.timeoutMs;
    // A call in flight at the deadline is aborted too, so that no hung call outlives the bound.
    const timeout = AbortSignal.timeout(this.#o.timeoutMs);
    this.#signal = this.#o.signal ? AbortSignal.any([this.#o.signal, timeout]) : timeout;
    const streamARN = await this.#attempt(deadline, () => this.#streamArn());
    for (;;) {
      const description = await this.#attempt(deadline, () => this.#describeOrRegister(streamARN));
      if (description.status === 'ACTIVE' && description.arn) return description.arn;
      // CREATING (or DELETING, after which it is registered again): look again shortly.
      const interval = this.#o.describeIntervalMs * (0.5 + Math.random());
      await this.#wait(deadline, interval);
    }
  }

  async #streamArn(): Promise<string> {
    const { stream, kinesis } = this.#o;
    const signal = this.#signal;
    if ('StreamARN' in stream) return stream.StreamARN;
    const response = await kinesis.send(new DescribeStreamSummaryCommand(stream), { abortSignal: signal });
    const arn = response.StreamDescriptionSummary?.StreamARN;
    if (!arn) throw new Error('DescribeStreamSummary returned no StreamARN');
    return arn;
  }

  async #describeOrRegister(streamARN: string): Promise<{ status: string | undefined; arn?: string }> {
    const { kinesis, consumerName } = this.#o;
    const signal = this.#signal;
    try {
      const response = await kinesis.send(
        new DescribeStreamConsumerCommand({ StreamARN: streamARN, ConsumerName: consumerName }),
        { abortSignal: signal },
      );
      const description = response.ConsumerDescription;
      return { status: description?.ConsumerStatus, arn: description?.ConsumerARN ?? '' };
    } catch (error) {
      if (errorName(error) !== 'ResourceNotFoundException') throw error;
    }
    try {
      const response = await kinesis.send(
        new RegisterStreamConsumerCommand({ StreamARN: streamARN, ConsumerName: consumerName }),
        { abortSignal: signal },
      );
      return { status: response.Consumer?.ConsumerStatus, arn: response.Consumer?.ConsumerARN ?? '' };
    } catch (error) {
      // Another worker registered it first: describe it on the next round.
      if (errorName(error) === 'ResourceInUseException') return { status: 'CREATING' };
      throw error; // LimitExceeded (5 CREATING per stream, or 20 consumers) is retriable: backoff
    }
  }

  /** Runs `call`, retrying what may pass with backoff until the deadline; throws a `StreamError`. */
  async #attempt<T>(deadline: number, call: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        const result = await call();
        this.#failures = 0;
        return result;
      } catch (cause) {
        if (this.#o.signal?.aborted) throw this.#timedOut('the consumer stopped', cause);
        if (this.#signal?.aborted) throw this.#timedOut(`not ACTIVE within ${this.#o.timeoutMs} ms`, cause);
        const error = new StreamError(`stream consumer ${this.#o.consumerName}: registration`, cause);
        if (!isRetriableAwsError(cause)) throw error;
        this.#o.onError?.(error);
        this.#failures++;
        await this.#wait(deadline, backoffDelay(this.#failures, this.#o.backoffBaseMs, this.#o.backoffMaxMs));
      }
    }
  }

  async #wait(deadline: number, ms: number): Promise<void> {
    const left = deadline - Date.now();
    if (left <= 0) throw this.#timedOut(`not ACTIVE within ${this.#o.timeoutMs} ms`);
    if (!(await sleep(Math.min(ms, left), this.#o.signal))) throw this.#timedOut('the consumer stopped');
  }

  #timedOut(why: string, cause?: unknown): StreamError {
    // Waiting longer (or starting again) can help, whatever the last call's error was.
    return new StreamError(`stream consumer ${this.#o.consumerName}: ${why}`, cause, true);
  }
}
