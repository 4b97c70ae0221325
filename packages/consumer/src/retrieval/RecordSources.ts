import { ConsumerError } from '../errors.js';
import type { TypedEvents } from '../events.js';
import type { Counters } from '../metrics.js';
import type { ResolvedOptions } from '../options.js';
import { FanOutSubscriber } from './FanOutSubscriber.js';
import { FAN_OUT_LIMITS, GET_RECORDS_LIMITS } from './limits.js';
import { PollingFetcher } from './PollingFetcher.js';
import type { ShardRecordSource, StartingPosition } from './ShardRecordSource.js';
import { StreamConsumerRegistration } from './StreamConsumerRegistration.js';

/** Everything {@link RecordSources} needs from the worker. */
export interface RecordSourcesDeps {
  options: ResolvedOptions;
  events: TypedEvents;
  counters: Counters;
}

/**
 * The worker's one place that knows the retrieval mode: it prepares fan-out (the stream consumer's ARN,
 * registered if need be) and creates each shard's record source, polling or fan-out.
 */
export class RecordSources {
  readonly #deps: RecordSourcesDeps;
  #consumerArn: string | undefined;

  constructor(deps: RecordSourcesDeps) {
    this.#deps = deps;
    const retrieval = deps.options.retrieval;
    if (retrieval.mode === 'fan-out' && 'consumerArn' in retrieval.consumer) {
      this.#consumerArn = retrieval.consumer.consumerArn;
    }
  }

  /** The stream consumer's ARN with fan-out, once known. */
  get consumerArn(): string | undefined {
    return this.#consumerArn;
  }

  /**
   * Fan-out by consumer name: resolves its ARN, registering it if the stream has none of that name, and
   * waits until it is ACTIVE (bounded by `registrationTimeoutMs`). Nothing to do otherwise.
   */
  async prepare(signal: AbortSignal): Promise<void> {
    const { options, events } = this.#deps;
    const retrieval = options.retrieval;
    if (retrieval.mode !== 'fan-out' || this.#consumerArn !== undefined) return;
    if (!('consumerName' in retrieval.consumer)) return;
    this.#consumerArn = await new StreamConsumerRegistration({
      kinesis: options.kinesisClient,
      stream: options.stream,
      consumerName: retrieval.consumer.consumerName,
      timeoutMs: retrieval.registrationTimeoutMs,
      describeIntervalMs: FAN_OUT_LIMITS.describeIntervalMs,
      backoffBaseMs: FAN_OUT_LIMITS.backoffBaseMs,
      backoffMaxMs: FAN_OUT_LIMITS.backoffMaxMs,
      signal,
      onError: (error) => events.emit('error', { operation: 'registerStreamConsumer', error }),
    }).activeConsumerArn();
    options.logger.info?.('stream consumer active', { consumerArn: this.#consumerArn });
  }

  create({ shardId, start }: { shardId: string; start: StartingPosition }): ShardRecordSource {
    const { options: o, events, counters } = this.#deps;
    const retrieval = o.retrieval;
    if (retrieval.mode === 'fan-out') {
      if (this.#consumerArn === undefined) {
        throw new ConsumerError(
          'INTERNAL',
          'fan-out record source created before the stream consumer was ready',
        );
      }
      return new FanOutSubscriber({
        kinesis: o.kinesisClient,
        consumerArn: this.#consumerArn,
        shardId,
        start,
        maxPrefetchBatches: o.maxPrefetchBatches,
        maxPrefetchBytes: o.maxPrefetchBytes,
        readTimeoutMs: retrieval.readTimeoutMs,
        minSubscribeIntervalMs: FAN_OUT_LIMITS.minSubscribeIntervalMs,
        resourceInUseWaitMs: FAN_OUT_LIMITS.resourceInUseWaitMs,
        backoffBaseMs: FAN_OUT_LIMITS.backoffBaseMs,
        backoffMaxMs: FAN_OUT_LIMITS.backoffMaxMs,
        now: () => performance.now(),
        onError: (error) => events.emit('error', { operation: 'subscribeToShard', error, shardId }),
      });
    }
    return new PollingFetcher({
      kinesis: o.kinesisClient,
      stream: o.stream,
      shardId,
      start,
      maxRecords: o.maxRecords,
      idleTimeBetweenReadsMs: o.idleTimeBetweenReadsMs,
      maxPrefetchBatches: o.maxPrefetchBatches,
      maxPrefetchBytes: o.maxPrefetchBytes,
      ...GET_RECORDS_LIMITS,
      now: () => performance.now(),
      onError: (error) => events.emit('error', { operation: 'getRecords', error, shardId }),
      onThrottled: () => {
        counters.getRecordsThrottles++;
      },
    });
  }
}
