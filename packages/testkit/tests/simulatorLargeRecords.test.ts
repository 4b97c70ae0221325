import {
  DescribeStreamSummaryCommand,
  InvalidArgumentException,
  type KinesisClient,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KinesisSimulator, startKinesisSimulator } from '../src/index.js';

const MiB = 1024 * 1024;

async function errorOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail');
}

describe('simulator: per-stream maximum record size', () => {
  let sim: KinesisSimulator;
  let client: KinesisClient;

  beforeAll(async () => {
    sim = await startKinesisSimulator({
      streams: [
        { streamName: 'small', shardCount: 1 },
        { streamName: 'large', shardCount: 1, maxRecordSizeInKiB: 10_240 },
      ],
      log: { mode: 'counts' },
    });
    client = sim.createClient({ maxAttempts: 1 });
  });
  afterAll(() => sim.stop());

  it('reports MaxRecordSizeInKiB in DescribeStreamSummary', async () => {
    const small = await client.send(new DescribeStreamSummaryCommand({ StreamName: 'small' }));
    const large = await client.send(new DescribeStreamSummaryCommand({ StreamName: 'large' }));
    expect(small.StreamDescriptionSummary?.MaxRecordSizeInKiB).toBe(1024);
    expect(large.StreamDescriptionSummary?.MaxRecordSizeInKiB).toBe(10_240);
  });

  it('accepts a 10 MiB record (one shard, default shard limits) on a 10 MiB stream only', async () => {
    const record = { PartitionKey: 'k', Data: Buffer.alloc(10 * MiB - 1) };
    const ok = await client.send(new PutRecordsCommand({ StreamName: 'large', Records: [record] }));
    expect(ok.FailedRecordCount).toBe(0);
    const refused = await errorOf(
      client.send(new PutRecordsCommand({ StreamName: 'small', Records: [record] })),
    );
    expect(refused.name).toMatch(/ValidationException|InvalidArgumentException/);
  });

  it('takes requests up to 10 MiB on a large-record stream, 5 MiB elsewhere', async () => {
    const records = Array.from({ length: 7 }, (_, i) => ({
      PartitionKey: `k${i}`,
      Data: Buffer.alloc(MiB - 16),
    }));
    const small = await errorOf(
      client.send(new PutRecordsCommand({ StreamName: 'small', Records: records })),
    );
    expect(small).toBeInstanceOf(InvalidArgumentException);
    expect(small.message).toMatch(/5 MB/);
    sim.createStream('large-unlimited', 1, { maxRecordSizeInKiB: 2048 });
    const large = await client.send(
      new PutRecordsCommand({ StreamName: 'large-unlimited', Records: records }),
    );
    // The shard's 1 MiB/s window takes the first; the request itself is accepted.
    expect(large.Records).toHaveLength(7);
    const tooMany = [...records, ...records.slice(0, 4)]; // 11 MiB
    const refused = await errorOf(
      client.send(new PutRecordsCommand({ StreamName: 'large-unlimited', Records: tooMany })),
    );
    expect(refused.message).toMatch(/10 MB/);
  });

  it('changes a stream limit as UpdateMaxRecordSize does, within 1024..10240 KiB', async () => {
    sim.createStream('changing', 1);
    sim.updateMaxRecordSize('changing', 4096);
    const summary = await client.send(new DescribeStreamSummaryCommand({ StreamName: 'changing' }));
    expect(summary.StreamDescriptionSummary?.MaxRecordSizeInKiB).toBe(4096);
    expect(() => sim.updateMaxRecordSize('changing', 20_000)).toThrow(/1024\.\.10240/);
  });
});
