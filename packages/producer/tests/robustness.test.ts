// Regression tests from a correctness review: listener bugs, ListShards failures, long-lived abort signals.
import { getEventListeners } from 'node:events';
import { deaggregate } from '@shardline/aggregation';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ExpiredError, ServiceError } from '../src/index.js';
import { evenShards, FakeKinesis, serviceError } from './fakeKinesis.js';
import { fakeProducer as producer } from './fixtures.js';

/** How many times each payload was stored (de-aggregated). */
function storedCounts(fake: FakeKinesis): Map<string, number> {
  const counts = new Map<string, number>();
  for (const entry of fake.stored) {
    const users = deaggregate({
      Data: entry.data,
      PartitionKey: entry.partitionKey,
      SequenceNumber: entry.sequenceNumber,
    });
    for (const user of users) {
      const payload = Buffer.from(user.data).toString('utf8');
      counts.set(payload, (counts.get(payload) ?? 0) + 1);
    }
  }
  return counts;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('KinesisProducer robustness', () => {
  it('a throwing event listener neither fails stored records nor sends failed ones', async () => {
    const fake = new FakeKinesis(evenShards(2));
    // The first request's entries are throttled, so their records are re-buffered and 'retry' is emitted.
    fake.entryFault = (_entry, _index, call) =>
      call === 1 ? 'ProvisionedThroughputExceededException' : undefined;
    const warning = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const p = producer(fake);
    p.on('retry', () => {
      throw new Error('listener bug');
    });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => p.put({ partitionKey: `k${i}`, data: `r${i}` })),
    );
    await p.close();
    expect(outcomes.map((o) => o.status)).toEqual(Array(20).fill('fulfilled'));
    const counts = storedCounts(fake);
    for (let i = 0; i < 20; i++) expect(counts.get(`r${i}`)).toBe(1);
    expect(warning).toHaveBeenCalledWith(expect.stringContaining("'retry' event threw"), expect.anything());
  });

  it('a throwing shardMapRefreshed listener does not strand records waiting for the map', async () => {
    const fake = new FakeKinesis(evenShards(2));
    vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const p = producer(fake);
    p.on('shardMapRefreshed', () => {
      throw new Error('listener bug');
    });
    await expect(p.put({ partitionKey: 'k', data: 'x' })).resolves.toMatchObject({
      shardId: expect.any(String),
    });
    await p.close();
  }, 5_000);

  it('a throwing logger does not strand records either', async () => {
    const fake = new FakeKinesis(evenShards(2));
    const warning = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const broken = (): void => {
      throw new Error('logger bug');
    };
    const p = producer(fake, { logger: { debug: broken, info: broken, warn: broken, error: broken } });
    await expect(p.put({ partitionKey: 'k', data: 'x' })).resolves.toMatchObject({
      shardId: expect.any(String),
    });
    await p.close();
    expect(warning).toHaveBeenCalledWith(expect.stringContaining('logger.info threw'), expect.anything());
  }, 5_000);

  it('spaces failed shard map listings by their backoff instead of calling ListShards in a loop', async () => {
    const fake = new FakeKinesis();
    fake.listFault = () => serviceError('LimitExceededException', 400, 'client');
    // The backoff (1 s) is longer than a record's TTL: each listing gives up after its first try.
    const p = producer(fake, {
      recordTtlMs: 300,
      shardMapRefreshMinDelayMs: 1_000,
      shardMapRefreshMaxDelayMs: 1_000,
    });
    const error = await p.put({ partitionKey: 'k', data: 'x' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExpiredError);
    expect(fake.listCalls).toBe(1);
    await p.close();
  });

  it('after a non-retriable listing error, fails new records at once without another ListShards call', async () => {
    const fake = new FakeKinesis();
    fake.listFault = () => serviceError('ResourceNotFoundException', 400, 'client');
    const p = producer(fake, { shardMapRefreshMinDelayMs: 60_000, shardMapRefreshMaxDelayMs: 60_000 });
    for (let i = 0; i < 3; i++) {
      const error = await p.put({ partitionKey: 'k', data: 'x' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ServiceError);
      expect((error as ServiceError).serviceCode).toBe('ResourceNotFoundException');
    }
    expect(fake.listCalls).toBe(1);
    expect(fake.putCalls).toBe(0);
    await p.close();
  });

  it('a stale map whose listing fails holds records for one try only, then the old map routes them', async () => {
    const fake = new FakeKinesis(evenShards(2));
    const p = producer(fake, {
      shardMapRefreshIntervalMs: 1_000,
      shardMapRefreshMinDelayMs: 60_000,
      shardMapRefreshMaxDelayMs: 60_000,
    });
    const failures: string[] = [];
    const refreshes: string[] = [];
    p.on('shardMapRefreshFailed', ({ errorCode }) => failures.push(errorCode));
    p.on('shardMapRefreshed', ({ reason }) => refreshes.push(reason));
    await p.put({ partitionKey: 'k', data: 'before' });
    const listings = fake.listCalls;
    fake.listFault = () => serviceError('LimitExceededException', 400, 'client');
    // Idle past the interval: the map is stale, the next record waits for a listing, which fails.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const result = await p.put({ partitionKey: 'k', data: 'after' });
    expect(result.attempts).toHaveLength(1);
    expect(fake.listCalls).toBe(listings + 1);
    expect(failures).toEqual(['LimitExceededException']);
    expect(refreshes).toEqual(['initial']);
    await p.close();
  });

  it('does not keep an abort listener per capacity wait on a long-lived signal', async () => {
    const fake = new FakeKinesis();
    const p = producer(fake, { maxBufferedRecords: 1 });
    const shutdown = new AbortController();
    for (let i = 0; i < 5; i++) {
      const put = p.put({ partitionKey: 'k', data: `r${i}` });
      const wait = p.waitForCapacity(0, shutdown.signal);
      await put;
      await wait;
    }
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0);
    await p.close();
  });
});
