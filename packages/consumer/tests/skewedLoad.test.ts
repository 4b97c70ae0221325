import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type KinesisClient, ListShardsCommand, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { createStream, uniqueName } from '@shardline/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import type { KinesisConsumer } from '../src/index.js';
import { localStack, makeConsumer, waitFor } from './helpers.js';

const stack = localStack();
afterAll(() => stack.destroy());

/** A client whose every call fails from `state.dead` on: to the others, the worker is gone (as after SIGKILL). */
function crashable<T extends object>(client: T, state: { dead: boolean }): T {
  return new Proxy(client, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (property !== 'send' || typeof value !== 'function') return value;
      return (...args: unknown[]) =>
        state.dead ? Promise.reject(new Error('worker killed')) : value.apply(target, args);
    },
  });
}

const COLD_SHARDS = 24;
const HOT_FACTOR = 10;
const RECORD_BYTES = 400;

describe('throughput balancing on the local stack', () => {
  it('one shard at 10x, 4 workers: processed bytes/s within ±20% of the mean, each lease moved at most once; a killed worker stalls nobody', async () => {
    const streamName = uniqueName('skew');
    const applicationName = uniqueName('skewapp');
    await createStream(stack.kinesis, { streamName, shardCount: COLD_SHARDS + 1 });
    const shards = (await stack.kinesis.send(new ListShardsCommand({ StreamName: streamName }))).Shards ?? [];
    const hot = shards[0]?.ShardId ?? '';
    const rate = (shardId: string): number => (shardId === hot ? HOT_FACTOR : 1);

    // 4 records of 400 bytes per cold shard per second, 10x that on the hot one (about 100 KB/s in all).
    let producing = true;
    const producer = (async () => {
      while (producing) {
        const entries = shards.flatMap((shard) =>
          Array.from({ length: rate(shard.ShardId ?? '') }, () => ({
            PartitionKey: 'k',
            ExplicitHashKey: shard.HashKeyRange?.StartingHashKey ?? '0',
            Data: new Uint8Array(RECORD_BYTES),
          })),
        );
        await stack.kinesis.send(new PutRecordsCommand({ StreamName: streamName, Records: entries }));
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    })();

    const handedOff = new Map<string, number>();
    const moves: string[] = [];
    const workers: Array<{ consumer: KinesisConsumer; state: { dead: boolean } }> = [];
    for (let i = 0; i < 4; i++) {
      const state = { dead: false };
      const consumer = makeConsumer(
        {
          ...stack,
          kinesis: crashable<KinesisClient>(stack.kinesis, state),
          dynamoDB: crashable<DynamoDBClient>(stack.dynamoDB, state),
        },
        {
          streamName,
          applicationName,
          workerId: `w${i}`,
          initialPosition: 'TRIM_HORIZON',
          failoverTimeMs: 3_000,
          renewIntervalMs: 1_000,
          takerIntervalMs: 300,
          leaseScanIntervalMs: 2_000,
          idleTimeBetweenReadsMs: 250,
          handoffTimeoutMs: 5_000,
          balanceCooldownMs: 30_000,
          balancing: 'throughput',
          processor: async () => {},
        },
      );
      consumer.on('leaseHandedOff', ({ shardId, to }) => {
        handedOff.set(shardId, (handedOff.get(shardId) ?? 0) + 1);
        moves.push(`${Date.now() % 1_000_000} ${shardId} w${i}->${to}`);
      });
      workers.push({ consumer, state });
    }
    try {
      await Promise.all(workers.map(({ consumer }) => consumer.start()));
      const total = COLD_SHARDS + HOT_FACTOR;
      const live = () => workers.filter(({ state }) => !state.dead);
      /** Each live worker's share of the produced rate, by the shards it holds now. */
      const shares = () =>
        live().map(({ consumer }) => consumer.heldShardIds().reduce((sum, id) => sum + rate(id), 0));
      const balanced = (tolerance: number) => {
        const loads = shares();
        const mean = total / loads.length;
        return (
          loads.reduce((a, b) => a + b, 0) === total &&
          loads.every((load) => Math.abs(load - mean) <= tolerance * mean)
        );
      };
      await waitFor(() => balanced(0.2), 120_000, 'held shards balanced by throughput');
      // Converged with every lease moved at most once on the way.
      expect(Math.max(0, ...handedOff.values()), moves.join('\n')).toBeLessThanOrEqual(1);
      // Every move was one of the shared plan's (counted by the worker that made it).
      expect(
        workers.reduce((sum, { consumer }) => sum + consumer.metrics().balanceMoves, 0),
      ).toBeGreaterThanOrEqual(handedOff.size);

      // What each worker actually processes, over any 12 s window once settled: bytes/s within ±20% of the mean.
      // Polled, not one fixed window: on a loaded machine a worker may lag for a while and then catch up.
      const samples: Array<{ at: number; bytes: number[] }> = [];
      let lastRates: number[] = [];
      const processedEvenly = (): boolean => {
        const at = Date.now();
        const bytes = workers.map(({ consumer }) => consumer.metrics().bytesProcessed);
        if (at - (samples[samples.length - 1]?.at ?? 0) >= 1_000) samples.push({ at, bytes });
        while ((samples[1]?.at ?? at) <= at - 12_000) samples.shift();
        const base = samples[0];
        if (!base || at - base.at < 12_000) return false;
        lastRates = bytes.map((value, i) => (value - (base.bytes[i] ?? 0)) / ((at - base.at) / 1000));
        const mean = lastRates.reduce((x, y) => x + y, 0) / lastRates.length;
        return mean > 0 && lastRates.every((value) => Math.abs(value - mean) <= 0.2 * mean);
      };
      await waitFor(processedEvenly, 120_000, 'processed bytes/s within ±20% of the mean').catch((error) => {
        throw new Error(`${String(error)}; last bytes/s per worker ${JSON.stringify(lastRates)}`);
      });
      // And it stays put: still no lease moved twice (a last small move may finish meanwhile).
      expect(Math.max(0, ...handedOff.values()), moves.join('\n')).toBeLessThanOrEqual(1);

      // Kill the worker with the hot shard: the other three hold every lease again after failover, and the
      // hot shard's records flow again.
      const victim = workers.find(({ consumer }) => consumer.heldShardIds().includes(hot));
      if (!victim) throw new Error('nobody holds the hot shard');
      victim.state.dead = true;
      const survivors = live();
      await waitFor(
        () => new Set(survivors.flatMap(({ consumer }) => consumer.heldShardIds())).size === COLD_SHARDS + 1,
        60_000,
        'survivors hold every lease',
      );
      const hotBytes = () =>
        survivors.reduce(
          (sum, { consumer }) =>
            sum + (consumer.metrics().shards.find((shard) => shard.shardId === hot)?.bytesProcessed ?? 0),
          0,
        );
      const hotBefore = hotBytes();
      await waitFor(() => hotBytes() > hotBefore + 10 * RECORD_BYTES, 60_000, 'hot shard processed again');
    } finally {
      producing = false;
      await producer.catch(() => undefined);
      await Promise.all(
        workers.map(({ consumer }) => consumer.stop({ timeoutMs: 3_000, releaseTimeoutMs: 2_000 })),
      );
    }
  }, 420_000);
});
