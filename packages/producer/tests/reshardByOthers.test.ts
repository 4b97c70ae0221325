// A stream resharded by another process (its own SDK client, SplitShard and MergeShards over HTTP) while the
// producer writes to it by ARN: nothing lost, nothing misplaced. The simulator's log says where every
// Kinesis record went; de-aggregated, every user record must sit on a shard that owns its hash key.
import { type KinesisClient, MergeShardsCommand, SplitShardCommand } from '@aws-sdk/client-kinesis';
import { deaggregate, partitionKeyHash } from '@shardline/aggregation';
import { type KinesisSimulator, MAX_HASH_KEY, startKinesisSimulator } from '@shardline/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KinesisProducer, type ProducerEvents, type PutResult } from '../src/index.js';

const INTERVAL_MS = 1_000;

let sim: KinesisSimulator;
let operator: KinesisClient; // the other process
let producerClient: KinesisClient;

beforeAll(async () => {
  sim = await startKinesisSimulator();
  operator = sim.createClient({ maxAttempts: 1 });
  producerClient = sim.createClient({ maxAttempts: 1 });
});
afterAll(() => sim.stop());

function arnOf(streamName: string): string {
  return `arn:aws:kinesis:${sim.region}:000000000000:stream/${streamName}`;
}

function newProducer(streamName: string): {
  producer: KinesisProducer;
  refreshes: ProducerEvents['shardMapRefreshed'][0]['reason'][];
} {
  const producer = new KinesisProducer({
    client: producerClient,
    streamARN: arnOf(streamName),
    maxBufferedTimeMs: 10,
    retryBaseDelayMs: 10,
    retryMaxDelayMs: 100,
    shardMapRefreshMinDelayMs: 50,
    shardMapRefreshMaxDelayMs: 200,
    shardMapRefreshIntervalMs: INTERVAL_MS,
  });
  const refreshes: ProducerEvents['shardMapRefreshed'][0]['reason'][] = [];
  producer.on('shardMapRefreshed', ({ reason }) => refreshes.push(reason));
  return { producer, refreshes };
}

interface Sent {
  payload: string;
  partitionKey: string;
  result: PutResult;
}

async function burst(producer: KinesisProducer, tag: string, count: number): Promise<Sent[]> {
  const puts = Array.from({ length: count }, (_, i) => {
    const partitionKey = `key-${i % 97}`;
    const payload = `${tag}-${i}`;
    return producer
      .put({ partitionKey, data: payload })
      .then((result) => ({ payload, partitionKey, result }));
  });
  return Promise.all(puts);
}

/** The other process's reshard: splits shard 0 at a quarter, merges its upper child with shard 1. */
async function reshard(streamName: string): Promise<void> {
  const quarter = (MAX_HASH_KEY + 1n) / 4n;
  await operator.send(
    new SplitShardCommand({
      StreamARN: arnOf(streamName),
      ShardToSplit: 'shardId-000000000000',
      NewStartingHashKey: String(quarter),
    }),
  );
  await operator.send(
    new MergeShardsCommand({
      StreamName: streamName,
      ShardToMerge: 'shardId-000000000003',
      AdjacentShardToMerge: 'shardId-000000000001',
    }),
  );
}

function owns(streamName: string, shardId: string, partitionKey: string): boolean {
  const shard = sim.shards(streamName).find((s) => s.shardId === shardId);
  const key = partitionKeyHash(partitionKey);
  return shard !== undefined && key >= shard.startingHashKey && key <= shard.endingHashKey;
}

/** Every stored user record, de-aggregated, with the shard that stored it. */
function stored(streamName: string): { payload: string; partitionKey: string; shardId: string }[] {
  return sim
    .accepted()
    .filter((entry) => entry.streamName === streamName)
    .flatMap((entry) =>
      deaggregate({
        Data: entry.data,
        PartitionKey: entry.partitionKey,
        SequenceNumber: entry.sequenceNumber,
      }).map((user) => ({
        payload: Buffer.from(user.data).toString('utf8'),
        partitionKey: user.partitionKey,
        shardId: entry.shardId,
      })),
    );
}

function expectNothingLostOrMisplaced(streamName: string, sent: Sent[]): void {
  for (const { partitionKey, result } of sent) {
    expect(owns(streamName, result.shardId, partitionKey), `${partitionKey} on ${result.shardId}`).toBe(true);
  }
  const copies = stored(streamName);
  for (const { payload } of sent) {
    const onOwner = copies.filter(
      (copy) => copy.payload === payload && owns(streamName, copy.shardId, copy.partitionKey),
    );
    expect(onOwner.length, payload).toBeGreaterThanOrEqual(1);
  }
  expect(sim.stats().droppedFromLog).toBe(0);
}

describe('a stream resharded by another process', () => {
  it('while the producer idles between bursts: the stale map is listed again before the next burst goes out', async () => {
    const streamName = 'idle-reshard';
    sim.createStream(streamName, 2);
    const { producer, refreshes } = newProducer(streamName);
    const first = await burst(producer, 'before', 300);
    await reshard(streamName);
    // Idle for longer than the refresh interval: nothing confirms the map meanwhile.
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS + 200));
    const second = await burst(producer, 'after', 300);
    await producer.close();

    expectNothingLostOrMisplaced(streamName, [...first, ...second]);
    // Detected before sending: no record went to a closed shard's range, none was stored twice.
    const open = new Set(
      sim
        .shards(streamName)
        .filter((s) => s.open)
        .map((s) => s.shardId),
    );
    for (const { result } of second) expect(open.has(result.shardId)).toBe(true);
    expect(second.flatMap(({ result }) => result.attempts).filter((a) => !a.success)).toEqual([]);
    expect(stored(streamName)).toHaveLength(600);
    expect(refreshes).toEqual(['initial', 'stale']);
  }, 30_000);

  it('while records flow: wrong-shard answers and periodic listings keep every record on its owner', async () => {
    const streamName = 'busy-reshard';
    sim.createStream(streamName, 2);
    const { producer, refreshes } = newProducer(streamName);
    const sent: Sent[] = [];
    let round = 0;
    let resharded = false;
    const started = Date.now();
    // Bursts back to back, the reshard in the middle, for longer than one refresh interval.
    while (Date.now() - started < INTERVAL_MS * 2.5 || !resharded) {
      const pending = burst(producer, `round${round}`, 50);
      if (round === 3) {
        await reshard(streamName);
        resharded = true;
      }
      sent.push(...(await pending));
      round += 1;
    }
    await producer.close();

    expectNothingLostOrMisplaced(streamName, sent);
    expect(refreshes[0]).toBe('initial');
    // Records flowing for over an interval since the last listing bring another listing without waiting
    // for a wrong-shard answer (periodic; stale if a slow machine left a gap of an interval between bursts).
    expect(refreshes.some((reason) => reason === 'periodic' || reason === 'stale')).toBe(true);
  }, 30_000);
});
