import type { _Record } from '@aws-sdk/client-kinesis';
import { describe, expect, it } from 'vitest';
import { PrefetchQueue } from '../src/retrieval/PrefetchQueue.js';
import type { FetchedBatch } from '../src/retrieval/ShardRecordSource.js';

function batch(
  sequenceNumbers: string[],
  options: { bytesEach?: number; shardEnded?: boolean } = {},
): FetchedBatch {
  const bytesEach = options.bytesEach ?? 10;
  const records: _Record[] = sequenceNumbers.map((SequenceNumber) => ({
    SequenceNumber,
    PartitionKey: 'k',
    Data: new Uint8Array(bytesEach),
  }));
  return {
    records,
    millisBehindLatest: undefined,
    shardEnded: options.shardEnded ?? false,
    childShards: [],
    bytes: bytesEach * records.length,
  };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('PrefetchQueue', () => {
  it('holds the reader while full by batches or by bytes, and lets it go when a batch is taken', async () => {
    const queue = new PrefetchQueue({ maxBatches: 2, maxBytes: 1_000 }, new AbortController().signal);
    queue.push(batch(['1']));
    queue.push(batch(['2']));
    let room = false;
    void queue.waitForRoom().then((ok) => {
      room = ok;
    });
    await flush();
    expect(room).toBe(false);
    expect((await queue.take())?.records[0]?.SequenceNumber).toBe('1');
    await flush();
    expect(room).toBe(true);

    const bytes = new PrefetchQueue({ maxBatches: 10, maxBytes: 100 }, new AbortController().signal);
    bytes.push(batch(['1'], { bytesEach: 100 }));
    let bytesRoom = false;
    void bytes.waitForRoom().then((ok) => {
      bytesRoom = ok;
    });
    await flush();
    expect(bytesRoom).toBe(false);
    await bytes.take();
    await flush();
    expect(bytesRoom).toBe(true);
  });

  it('merges into the last queued batch up to one GetRecords answer, never across the shard end', async () => {
    const queue = new PrefetchQueue({ maxBatches: 3, maxBytes: 100_000_000 }, new AbortController().signal);
    queue.pushMerging(batch(['1', '2']));
    queue.pushMerging({ ...batch(['3']), millisBehindLatest: 5 });
    queue.pushMerging(batch(Array.from({ length: 9_998 }, (_, i) => String(i + 4)))); // 10,001 would not fit
    queue.pushMerging(batch(['x'], { shardEnded: true }));
    const taken = [await queue.take(), await queue.take(), await queue.take()];
    expect(taken.map((b) => b?.records.length)).toEqual([3, 9_998, 1]);
    expect(taken[0]?.bytes).toBe(30);
    expect(taken[0]?.millisBehindLatest).toBe(5);
    expect(taken[2]?.shardEnded).toBe(true);
  });

  it('once finished hands out what is queued, then undefined; once aborted, undefined at once', async () => {
    const finished = new PrefetchQueue({ maxBatches: 3, maxBytes: 1_000 }, new AbortController().signal);
    finished.push(batch(['1']));
    finished.finish();
    expect((await finished.take())?.records.length).toBe(1);
    expect(await finished.take()).toBeUndefined();

    const abort = new AbortController();
    const stopped = new PrefetchQueue({ maxBatches: 1, maxBytes: 1_000 }, abort.signal);
    stopped.push(batch(['1']));
    const waiting = stopped.waitForRoom();
    const empty = new PrefetchQueue({ maxBatches: 1, maxBytes: 1_000 }, abort.signal);
    const taking = empty.take();
    abort.abort();
    expect(await waiting).toBe(false);
    expect(await taking).toBeUndefined();
    expect(await stopped.take()).toBeUndefined(); // buffered batches are dropped
  });
});
