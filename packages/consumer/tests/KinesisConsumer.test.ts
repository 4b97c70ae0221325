import { describe, expect, it } from 'vitest';
import { KinesisConsumer, type RecordProcessor } from '../src/index.js';
import { fakeKinesis, fakeLeaseTable } from './fixtures/fakeClients.js';
import { waitFor } from './helpers.js';

/** Timings small enough for unit tests against the in-memory fakes. */
const QUICK = {
  streamName: 'stream',
  applicationName: 'app-table',
  initialPosition: 'TRIM_HORIZON',
  renewIntervalMs: 20,
  takerIntervalMs: 20,
  idleTimeBetweenReadsMs: 20,
} as const;

describe('KinesisConsumer (in-memory lease table)', () => {
  it('does not start a second consumer for a shard whose previous one is still winding down', async () => {
    const table = fakeLeaseTable();
    let calls = 0;
    let active = 0;
    let maxActive = 0;
    let open: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const processor: RecordProcessor = {
      processRecords: async () => {
        calls++;
        active++;
        maxActive = Math.max(maxActive, active);
        if (calls === 1) await gate; // the first batch takes long; meanwhile the lease is lost
        active--;
      },
      shardEnded: ({ checkpointer }) => checkpointer.checkpoint(),
    };
    const consumer = new KinesisConsumer({
      ...QUICK,
      kinesisClient: fakeKinesis(),
      dynamoDBClient: table.client,
      failoverTimeMs: 200,
      processor,
    });
    const lost: string[] = [];
    consumer.on('leaseLost', ({ reason }) => lost.push(reason));
    await consumer.start();
    try {
      await waitFor(() => calls === 1, 5_000, 'first batch in progress');
      table.steal('shard-0', 'thief');
      await waitFor(() => lost.length === 1, 5_000, 'lease lost');
      // The thief never renews: after failoverTimeMs the lease is free to take again, but the old consumer
      // is still inside processRecords, so the shard is left alone.
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(calls).toBe(1);
      expect(consumer.heldShardIds()).toEqual([]);
      open();
      await waitFor(() => calls === 2, 5_000, 'shard taken again once the old consumer finished');
      expect(maxActive).toBe(1);
    } finally {
      open();
      await consumer.stop({ timeoutMs: 2_000 });
    }
    expect(consumer.metrics().shards).toEqual([]); // no orphan left running
    expect(table.items.get('shard-0')?.leaseOwner).toBeUndefined(); // released by stop()
  });

  it('stop() resolves within timeoutMs + releaseTimeoutMs even when lease-table calls never answer', async () => {
    const table = fakeLeaseTable();
    const consumer = new KinesisConsumer({
      ...QUICK,
      kinesisClient: fakeKinesis(),
      dynamoDBClient: table.client,
      failoverTimeMs: 60_000,
      processor: async () => {},
    });
    await consumer.start();
    await waitFor(() => consumer.heldShardIds().length === 1, 5_000, 'lease taken');
    table.state.hang = true;
    const writes = table.state.writes;
    await waitFor(() => table.state.writes > writes, 5_000, 'a lease-table write hanging');
    const startedAt = performance.now();
    const result = await Promise.race([
      consumer.stop({ timeoutMs: 100, releaseTimeoutMs: 100 }).then(() => 'stopped'),
      new Promise((resolve) => setTimeout(() => resolve('still waiting'), 5_000)),
    ]);
    expect(result).toBe('stopped');
    expect(performance.now() - startedAt).toBeLessThan(2_000);
  });
});
