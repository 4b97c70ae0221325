import {
  InternalFailureException,
  type KinesisClient,
  KMSThrottlingException,
  ResourceNotFoundException,
} from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FaultPlanError,
  type KinesisSimulator,
  type SubscriptionFault,
  SubscriptionFaults,
  startKinesisSimulator,
} from '../src/index.js';
import { errorOf, putRecords, type Reader, registerConsumer, subscribe, waitFor } from './fanOutHelpers.js';

const SHARD = 'shardId-000000000000';

describe('SubscribeToShard faults as the SDK sees them', () => {
  let sim: KinesisSimulator;
  let client: KinesisClient;
  let arn: string;

  beforeAll(async () => {
    sim = await startKinesisSimulator({
      streams: [{ streamName: 'faults', shardCount: 1 }],
      fanOut: {
        consumerActivationMs: 0,
        idleEventIntervalMs: 50,
        resubscribeCooldownMs: 0,
        subscriptionLifetimeMs: 3_000,
      },
    });
    client = sim.createHttp2Client({ maxAttempts: 1 });
    arn = await registerConsumer(sim, client, 'faults', 'app');
    await putRecords(sim.createClient(), 'faults', 'f', 5);
  });
  afterAll(() => sim.stop());

  /**
   * Subscribes once with `fault` after `afterEvents` events; returns the events read and the error, from
   * `send()` or from the iteration (a connection-level fault may reach the client while `send()` is still
   * reading the first frame).
   */
  const withFault = async (fault: SubscriptionFault, afterEvents = 0) => {
    sim.setSubscriptionFaults({ rules: [{ name: 'f', afterEvents, times: 1, action: fault }] });
    let reader: Reader | undefined;
    let error: (Error & { code?: string }) | undefined;
    try {
      reader = await subscribe(client, arn, SHARD, { Type: 'TRIM_HORIZON' });
      error = await reader.ended;
    } catch (thrown) {
      error = thrown as Error;
    }
    expect(sim.subscriptionFaultCounters().f?.fired).toBe(1);
    return { events: reader?.events ?? [], data: reader?.data ?? [], error };
  };

  it('exception events surface as the modelled SDK errors, after the chosen number of events', async () => {
    const internal = await withFault(SubscriptionFaults.internalFailure(), 3);
    expect(internal.error).toBeInstanceOf(InternalFailureException);
    expect(internal.events).toHaveLength(3);
    expect(internal.data).toEqual(['f-0', 'f-1', 'f-2', 'f-3', 'f-4']);
    expect((await withFault(SubscriptionFaults.resourceNotFound())).error).toBeInstanceOf(
      ResourceNotFoundException,
    );
    const kms = await withFault(SubscriptionFaults.kms('KMSThrottlingException'));
    expect(kms.error).toBeInstanceOf(KMSThrottlingException);
    expect(kms.events).toHaveLength(0);
  });

  it('an error event surfaces as an Error named by its code', async () => {
    const { error } = await withFault(SubscriptionFaults.error('ServiceUnavailable', 'try later'));
    expect(error?.name).toBe('ServiceUnavailable');
    expect(error?.message).toBe('try later');
  });

  // Events written just before a reset or a lost connection may never reach the reader, as with a real one.
  it('a reset stream surfaces as an HTTP/2 stream error', async () => {
    const { error, events } = await withFault(SubscriptionFaults.reset(), 1);
    expect(events.length).toBeLessThanOrEqual(1);
    expect(error?.code).toBe('ERR_HTTP2_STREAM_ERROR');
    expect(error?.message).toMatch(/NGHTTP2_INTERNAL_ERROR/);
  });

  it('a GOAWAY fails the subscription, a dropped connection ends it', async () => {
    const goaway = await withFault(SubscriptionFaults.goaway(), 1);
    expect(goaway.error?.message).toMatch(/Session closed with error code 2/);
    // A lost connection: the SDK ends the iteration without an error (or fails send() if it came that
    // early), never with a shard end; the server forgets the subscription.
    const dropped = await withFault(SubscriptionFaults.sessionError(), 1);
    expect(dropped.events.length).toBeLessThanOrEqual(1);
    expect(dropped.events.some((e) => e.ChildShards !== undefined)).toBe(false);
    expect(sim.subscriptions()).toEqual([]);
    // The client recovers: the next subscription works.
    sim.setSubscriptionFaults({});
    const next = await subscribe(client, arn, SHARD, { Type: 'TRIM_HORIZON' });
    await waitFor(() => next.data.length === 5);
    next.abort();
  });

  it('a stalled stream stays open and silent until the lifetime ends it', async () => {
    sim.setSubscriptionFaults({
      rules: [{ name: 'stall', afterEvents: 2, times: 1, action: SubscriptionFaults.stall() }],
    });
    const reader = await subscribe(client, arn, SHARD, { Type: 'TRIM_HORIZON' });
    await waitFor(() => reader.events.length >= 2);
    // Ten idle intervals without an event: a lower bound on silence, which load cannot break.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(reader.events).toHaveLength(2);
    expect(reader.done).toBe(false);
    expect(sim.subscriptions()).toHaveLength(1);
    expect(await reader.ended).toBeUndefined();
    expect(reader.events).toHaveLength(2);
  });

  it('refuses the subscribe call itself with a JSON error', async () => {
    sim.setSubscriptionFaults({ rules: [{ name: 'refuse', times: 1, action: SubscriptionFaults.refuse() }] });
    const refused = await errorOf(subscribe(client, arn, SHARD, { Type: 'TRIM_HORIZON' }));
    expect(refused.name).toBe('InternalFailure');
    expect(sim.fanOutStats().refusedCalls).toBeGreaterThanOrEqual(1);
  });

  it('chooses the same subscriptions for the same seed', async () => {
    const pattern = async (seed: number) => {
      sim.setSubscriptionFaults({
        seed,
        rules: [
          {
            name: 'half',
            probability: 0.5,
            action: SubscriptionFaults.refuse(503, 'ServiceUnavailable', 'x'),
          },
        ],
      });
      const outcome: boolean[] = [];
      for (let i = 0; i < 12; i++) {
        try {
          (await subscribe(client, arn, SHARD, { Type: 'LATEST' })).abort();
          outcome.push(true);
        } catch {
          outcome.push(false);
        }
      }
      return outcome;
    };
    const first = await pattern(7);
    expect(await pattern(7)).toEqual(first);
    expect(first).toContain(true);
    expect(first).toContain(false);
    expect(sim.subscriptionFaultCounters().half).toEqual({
      matched: 12,
      fired: first.filter((ok) => !ok).length,
    });
  });

  it('rejects a bad plan when it is set', () => {
    expect(() =>
      sim.setSubscriptionFaults({ rules: [{ probability: 2, action: SubscriptionFaults.stall() }] }),
    ).toThrow(FaultPlanError);
    expect(() =>
      sim.setSubscriptionFaults({ rules: [{ afterEvents: -1, action: SubscriptionFaults.stall() }] }),
    ).toThrow(FaultPlanError);
  });
});
