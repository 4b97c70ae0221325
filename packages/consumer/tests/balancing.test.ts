import { createStream, uniqueName } from '@shardline/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import type { KinesisConsumer } from '../src/index.js';
import { localStack, makeConsumer, waitFor } from './helpers.js';

const stack = localStack();
afterAll(() => stack.destroy());

function counts(workers: readonly KinesisConsumer[]): number[] {
  return workers.map((worker) => worker.heldShardIds().length);
}

function allHeldOnce(workers: readonly KinesisConsumer[], total: number): boolean {
  const held = workers.flatMap((worker) => worker.heldShardIds());
  return held.length === total && new Set(held).size === total;
}

describe('balancing across workers', () => {
  it('3 workers settle at 2 leases each; a 4th joins; one leaving hands over at once', async () => {
    const streamName = uniqueName('balance');
    const applicationName = uniqueName('app');
    await createStream(stack.kinesis, { streamName, shardCount: 6 });
    // A long failover time proves the handover below comes from release, not from expiry.
    const make = (workerId: string): KinesisConsumer =>
      makeConsumer(stack, {
        streamName,
        applicationName,
        workerId,
        initialPosition: 'TRIM_HORIZON',
        failoverTimeMs: 10_000,
        renewIntervalMs: 1_000,
        idleTimeBetweenReadsMs: 500,
        processor: async () => {},
      });
    const workers = [make('w1'), make('w2'), make('w3')];
    try {
      await Promise.all(workers.map((worker) => worker.start()));
      await waitFor(
        () => allHeldOnce(workers, 6) && counts(workers).every((n) => n === 2),
        20_000,
        `3 workers at 2 each (now ${counts(workers)})`,
      );

      const joiner = make('w4');
      workers.push(joiner);
      await joiner.start();
      // Throughput balancing (the default) first measures every lease of a new table over one window
      // (balanceCooldownMs, 30 s here; idle leases then weigh the same, so it balances by count).
      await waitFor(
        () =>
          allHeldOnce(workers, 6) && joiner.heldShardIds().length >= 1 && Math.max(...counts(workers)) <= 2,
        90_000,
        `rebalanced to 4 workers (now ${counts(workers)})`,
      );
      // Stable: no ping-pong once balanced.
      const before = workers.map((worker) => worker.heldShardIds().join(','));
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(workers.map((worker) => worker.heldShardIds().join(','))).toEqual(before);
      expect(counts(workers).sort()).toEqual([1, 1, 2, 2]);

      const leaving = workers.find((worker) => worker.heldShardIds().length === 2) as KinesisConsumer;
      const moved = leaving.heldShardIds();
      const stoppedAt = Date.now();
      await leaving.stop({ timeoutMs: 5_000 });
      const rest = workers.filter((worker) => worker !== leaving);
      await waitFor(
        () => allHeldOnce(rest, 6),
        5_000,
        'released leases taken over well within failoverTimeMs',
      );
      const handover = Date.now() - stoppedAt;
      expect(handover).toBeLessThan(5_000);
      expect(counts(rest).sort()).toEqual([2, 2, 2]);
      expect(leaving.metrics().leasesReleased).toBeGreaterThanOrEqual(moved.length);
    } finally {
      await Promise.all(workers.map((worker) => worker.stop({ timeoutMs: 5_000 })));
    }
  }, 180_000);
});
