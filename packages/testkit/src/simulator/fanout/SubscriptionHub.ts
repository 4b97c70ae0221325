import type { ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { SubscriptionFaultPlanner } from '../../faults/subscriptions.js';
import type { FanOutOptions, RegisteredConsumer } from '../ConsumerRegistry.js';
import { type ConsumerContext, resolveConsumer } from '../consumers.js';
import { ApiError } from '../operations.js';
import { findShard, resolveStart } from '../reads.js';
import { TokenBucket } from '../TokenBucket.js';
import { Subscription } from './Subscription.js';

/** One open subscription, as `subscriptions()` shows it. */
export interface SubscriptionInfo {
  id: number;
  consumerName: string;
  consumerArn: string;
  shardId: string;
  eventsSent: number;
  recordsSent: number;
  /** Record bytes (data + partition key) sent. */
  bytesSent: number;
}

/** SubscribeToShard counters since start. */
export interface FanOutStats {
  subscribeCalls: number;
  /** Calls answered with an error response (cooldown, not ACTIVE, not found, injected refusals, ...). */
  refusedCalls: number;
  /** Subscriptions started, and those still open. */
  started: number;
  open: number;
  eventsSent: number;
  recordsSent: number;
  bytesSent: number;
  /** Subscriptions a fault rule picked. */
  faultsInjected: number;
}

type Body = Record<string, unknown>;

/**
 * Answers SubscribeToShard: validates the call, applies the resubscribe rule (a call within the cooldown of
 * the last successful one for the same consumer and shard is refused; a later one takes over and the older
 * subscription ends with ResourceInUseException), picks faults, and keeps the open subscriptions.
 */
export class SubscriptionHub {
  private readonly open = new Map<string, Subscription>();
  private readonly lastSuccess = new Map<string, number>();
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly details = new Map<
    Subscription,
    Omit<SubscriptionInfo, 'eventsSent' | 'recordsSent' | 'bytesSent'>
  >();
  private planner = new SubscriptionFaultPlanner();
  private readonly totals = {
    subscribeCalls: 0,
    refusedCalls: 0,
    started: 0,
    events: 0,
    records: 0,
    bytes: 0,
    faults: 0,
  };

  constructor(
    private readonly consumers: ConsumerContext,
    private readonly settings: Required<FanOutOptions>,
    private readonly socketOf: (stream: ServerHttp2Stream) => Socket | undefined,
  ) {}

  setFaults(planner: SubscriptionFaultPlanner): void {
    this.planner = planner;
  }

  faultCounters(): Record<string, { matched: number; fired: number }> {
    return this.planner.counters();
  }

  /** Starts a subscription on `http2`, or throws the ApiError the call is answered with. */
  subscribe(body: Body, http2: ServerHttp2Stream): void {
    this.totals.subscribeCalls += 1;
    try {
      this.start(body, http2);
    } catch (error) {
      this.totals.refusedCalls += 1;
      throw error;
    }
  }

  private start(body: Body, http2: ServerHttp2Stream): void {
    const { state, registry } = this.consumers;
    if (typeof body.ConsumerARN !== 'string') {
      throw new ApiError(
        400,
        'ValidationException',
        "Value null at 'consumerARN' failed to satisfy constraint.",
      );
    }
    const consumer = resolveConsumer(this.consumers, { ConsumerARN: body.ConsumerARN });
    const status = registry.status(consumer);
    if (status !== 'ACTIVE') {
      throw new ApiError(
        400,
        'ResourceInUseException',
        `Consumer ${consumer.arn} is not in ACTIVE status (${status}).`,
      );
    }
    const stream = [...state.streams.values()].find((s) => s.arn === consumer.streamArn);
    if (!stream)
      throw new ApiError(400, 'ResourceNotFoundException', `Stream ${consumer.streamArn} not found.`);
    const shard = findShard(state, stream, body.ShardId);
    const position = (body.StartingPosition ?? {}) as Body;
    const start = resolveStart(state, stream, shard, {
      type: position.Type,
      sequenceNumber: position.SequenceNumber,
      timestamp: position.Timestamp,
    });
    const key = `${consumer.arn} ${shard.shardId}`;
    const now = state.now();
    const last = this.lastSuccess.get(key);
    if (last !== undefined && now - last < this.settings.resubscribeCooldownMs) {
      throw new ApiError(
        400,
        'ResourceInUseException',
        `Another active subscription exists for consumer ${consumer.arn} on shard ${shard.shardId}; a new one is accepted ${this.settings.resubscribeCooldownMs} ms after the last successful SubscribeToShard.`,
      );
    }
    const id = this.totals.subscribeCalls;
    const fault = this.planner.choose({
      consumerName: consumer.name,
      consumerArn: consumer.arn,
      shardId: shard.shardId,
      subscription: this.totals.subscribeCalls,
    });
    if (fault) this.totals.faults += 1;
    if (fault?.action.kind === 'refuse') {
      throw new ApiError(fault.action.statusCode, fault.action.errorType, fault.action.message);
    }
    this.open
      .get(key)
      ?.endWith('ResourceInUseException', `Another subscription to shard ${shard.shardId} took over.`);
    this.lastSuccess.set(key, now);
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = new TokenBucket(this.settings.bytesPerSecond);
      this.buckets.set(key, bucket);
    }
    this.totals.started += 1;
    const subscription = new Subscription({
      id,
      http2,
      socket: this.socketOf(http2),
      stream,
      shard,
      consumer,
      start,
      bucket,
      lifetimeMs: this.settings.subscriptionLifetimeMs,
      idleEventIntervalMs: this.settings.idleEventIntervalMs,
      fault,
      onClosed: (closed) => this.closed(key, closed),
    });
    // The constructor may already have closed it (a client gone before the first frame).
    if (subscription.open) {
      this.open.set(key, subscription);
      this.details.set(subscription, {
        id,
        consumerName: consumer.name,
        consumerArn: consumer.arn,
        shardId: shard.shardId,
      });
    }
  }

  private closed(key: string, subscription: Subscription): void {
    if (this.open.get(key) === subscription) this.open.delete(key);
    this.details.delete(subscription);
    this.totals.events += subscription.eventsSent;
    this.totals.records += subscription.recordsSent;
    this.totals.bytes += subscription.bytesSent;
  }

  /** Ends the subscriptions of a deregistered consumer. */
  endConsumer(consumer: RegisteredConsumer): void {
    for (const subscription of [...this.open.values()]) {
      if (this.details.get(subscription)?.consumerArn === consumer.arn) {
        subscription.endWith('ResourceNotFoundException', `Consumer ${consumer.arn} was deregistered.`);
      }
    }
  }

  /** Resets every open subscription (the simulator stops). */
  closeAll(): void {
    for (const subscription of [...this.open.values()]) subscription.reset();
  }

  subscriptions(): SubscriptionInfo[] {
    return [...this.details].map(([s, info]) => ({
      ...info,
      eventsSent: s.eventsSent,
      recordsSent: s.recordsSent,
      bytesSent: s.bytesSent,
    }));
  }

  stats(): FanOutStats {
    const open = [...this.details.keys()];
    const sum = (pick: (s: Subscription) => number) => open.reduce((total, s) => total + pick(s), 0);
    return {
      subscribeCalls: this.totals.subscribeCalls,
      refusedCalls: this.totals.refusedCalls,
      started: this.totals.started,
      open: open.length,
      eventsSent: this.totals.events + sum((s) => s.eventsSent),
      recordsSent: this.totals.records + sum((s) => s.recordsSent),
      bytesSent: this.totals.bytes + sum((s) => s.bytesSent),
      faultsInjected: this.totals.faults,
    };
  }
}
