/** Enhanced fan-out settings of the simulator. */
export interface FanOutOptions {
  /**
   * How long a registered consumer stays CREATING before it is ACTIVE, and a deregistered one DELETING
   * before it is gone, in ms on the simulator's `now` clock (0 to 600,000). AWS takes seconds; tests want
   * it short. @defaultValue `300`
   */
  consumerActivationMs?: number;
  /** Consumers a stream may have registered (1 to 50; 50 is On-demand Advantage). @defaultValue `20` */
  maxConsumersPerStream?: number;
  /** Consumers of a stream that may be CREATING at once; more get LimitExceededException. @defaultValue `5` */
  maxCreatingConsumers?: number;
  /**
   * How long a subscription delivers events before the server ends it cleanly, in ms (100 to 3,600,000).
   * @defaultValue `300_000` (the service's 5 minutes)
   */
  subscriptionLifetimeMs?: number;
  /** How often an idle subscription gets an event without records, in ms (10 to 60,000). @defaultValue `5_000` */
  idleEventIntervalMs?: number;
  /**
   * A SubscribeToShard within this many ms (on `now`) of the last successful one for the same consumer and
   * shard gets ResourceInUseException; a later one takes over, and the older subscription ends with a
   * ResourceInUseException event (0 to 60,000). @defaultValue `5_000`
   */
  resubscribeCooldownMs?: number;
  /** Bytes (data + partition key) per second a consumer receives per shard. @defaultValue `2_097_152` */
  bytesPerSecond?: number;
}

export type ConsumerStatus = 'CREATING' | 'ACTIVE' | 'DELETING';

/** A registered consumer; its status follows from the clock (no timers). */
export interface RegisteredConsumer {
  readonly name: string;
  readonly arn: string;
  readonly streamArn: string;
  /** Wall clock, for ConsumerCreationTimestamp. */
  readonly createdAt: Date;
  /** On the `now` clock. */
  readonly registeredAt: number;
  deregisteredAt: number | undefined;
}

/**
 * The consumers of every stream. A consumer is CREATING for `activationMs` after it is registered, then
 * ACTIVE; after DeregisterStreamConsumer it is DELETING for `activationMs`, then gone (forgotten on the next
 * look-up). Statuses are computed from the clock when asked, so there is no timer to leak.
 */
export class ConsumerRegistry {
  private readonly byStream = new Map<string, Map<string, RegisteredConsumer>>();

  constructor(
    private readonly activationMs: number,
    private readonly now: () => number,
  ) {}

  status(consumer: RegisteredConsumer): ConsumerStatus | 'GONE' {
    const now = this.now();
    if (consumer.deregisteredAt !== undefined) {
      return now - consumer.deregisteredAt >= this.activationMs ? 'GONE' : 'DELETING';
    }
    return now - consumer.registeredAt >= this.activationMs ? 'ACTIVE' : 'CREATING';
  }

  /** The consumers of a stream that are not gone, in registration order. */
  of(streamArn: string): RegisteredConsumer[] {
    const consumers = this.byStream.get(streamArn);
    if (!consumers) return [];
    for (const [name, consumer] of consumers) {
      if (this.status(consumer) === 'GONE') consumers.delete(name);
    }
    return [...consumers.values()];
  }

  find(streamArn: string, name: string): RegisteredConsumer | undefined {
    return this.of(streamArn).find((c) => c.name === name);
  }

  findByArn(arn: string): RegisteredConsumer | undefined {
    const streamArn = arn.split('/consumer/')[0] ?? '';
    return this.of(streamArn).find((c) => c.arn === arn);
  }

  add(streamArn: string, name: string): RegisteredConsumer {
    const createdAt = new Date(Math.floor(Date.now() / 1000) * 1000);
    const consumer: RegisteredConsumer = {
      name,
      arn: `${streamArn}/consumer/${name}:${createdAt.getTime() / 1000}`,
      streamArn,
      createdAt,
      registeredAt: this.now(),
      deregisteredAt: undefined,
    };
    let consumers = this.byStream.get(streamArn);
    if (!consumers) {
      consumers = new Map();
      this.byStream.set(streamArn, consumers);
    }
    consumers.set(name, consumer);
    return consumer;
  }

  remove(consumer: RegisteredConsumer): void {
    consumer.deregisteredAt ??= this.now();
  }
}
