import {
  MergeShardsCommand,
  PutRecordCommand,
  PutRecordsCommand,
  SplitShardCommand,
} from '@aws-sdk/client-kinesis';
import { RecordAggregator } from '@shardline/aggregation';
import {
  connectLocalStack,
  createStream,
  listAllShards,
  uniqueName,
  waitForStreamActive,
} from '@shardline/testkit';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { RecordLine } from '../src/cli/recordLine.js';
import { runCli, startCli } from './cliRun.js';
import { putKeyed, waitFor } from './helpers.js';

const endpoints = inject('localStack');
const stack = connectLocalStack(endpoints);
afterAll(() => stack.destroy());
const kinesisEndpoint = ['--endpoint', endpoints.kinesisEndpoint];

const parse = (stdout: string): RecordLine[] =>
  stdout
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as RecordLine);

async function putAggregate(streamName: string, keys: string[], prefix: string): Promise<void> {
  const aggregator = new RecordAggregator({ emitSingleRecordRaw: false });
  keys.forEach((key, i) => {
    aggregator.add({ partitionKey: key, data: `${prefix}-${i}` });
  });
  const aggregate = aggregator.flush();
  if (!aggregate) throw new Error('no aggregate');
  await stack.kinesis.send(
    new PutRecordCommand({
      StreamName: streamName,
      PartitionKey: aggregate.partitionKey,
      ExplicitHashKey: aggregate.explicitHashKey,
      Data: aggregate.data,
    }),
  );
}

describe('shardline tail', () => {
  it('prints KPL-aggregated records as user records with sub-sequence numbers, then stops at the tip', async () => {
    const streamName = uniqueName('tail-agg');
    await createStream(stack.kinesis, { streamName, shardCount: 1 });
    await putAggregate(streamName, ['a', 'b', 'c', 'd'], 'agg');
    await stack.kinesis.send(
      new PutRecordsCommand({
        StreamName: streamName,
        Records: [{ PartitionKey: 'bin', Data: Uint8Array.from([0xff, 0xfe, 0x00, 0x80]) }],
      }),
    );
    const result = runCli(endpoints, ['tail', streamName, ...kinesisEndpoint]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const lines = parse(result.stdout);
    expect(lines).toHaveLength(5);
    const aggregated = lines.slice(0, 4);
    expect(aggregated.map((l) => [l.partitionKey, l.subSequenceNumber, l.data, l.encoding])).toEqual([
      ['a', 0, 'agg-0', 'utf8'],
      ['b', 1, 'agg-1', 'utf8'],
      ['c', 2, 'agg-2', 'utf8'],
      ['d', 3, 'agg-3', 'utf8'],
    ]);
    expect(new Set(aggregated.map((l) => l.sequenceNumber)).size).toBe(1);
    expect(aggregated.every((l) => l.aggregated && l.shard === 'shardId-000000000000')).toBe(true);
    expect(Number.isNaN(Date.parse(aggregated[0]?.arrival ?? ''))).toBe(false);
    expect(lines[4]).toMatchObject({
      partitionKey: 'bin',
      subSequenceNumber: 0,
      aggregated: false,
      encoding: 'base64',
      data: Buffer.from([0xff, 0xfe, 0x00, 0x80]).toString('base64'),
    });
  });

  it('starts --from latest, an ISO time, or a sequence number of one --shard', async () => {
    const streamName = uniqueName('tail-from');
    await createStream(stack.kinesis, { streamName, shardCount: 2 });
    await putKeyed(stack.kinesis, streamName, ['k1', 'k2', 'k3'], 0, 3);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const between = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await putKeyed(stack.kinesis, streamName, ['k1', 'k2', 'k3'], 3, 2);

    const all = runCli(endpoints, ['tail', streamName, ...kinesisEndpoint, '--from', 'trim-horizon']);
    expect(parse(all.stdout)).toHaveLength(15);

    const latest = runCli(endpoints, ['tail', streamName, ...kinesisEndpoint, '--from', 'latest']);
    expect(latest.status).toBe(0);
    expect(latest.stdout).toBe('');

    const since = runCli(endpoints, ['tail', streamName, ...kinesisEndpoint, '--from', between]);
    expect(since.stderr).toBe('');
    expect(
      parse(since.stdout)
        .map((l) => l.data)
        .sort(),
    ).toEqual(['k1:3', 'k1:4', 'k2:3', 'k2:4', 'k3:3', 'k3:4'].sort());

    const third = parse(all.stdout).find((l) => l.data === 'k1:2');
    if (!third) throw new Error('k1:2 not printed');
    const fromSequence = runCli(endpoints, [
      'tail',
      streamName,
      ...kinesisEndpoint,
      '--shard',
      third.shard,
      '--from',
      third.sequenceNumber,
    ]);
    expect(fromSequence.status).toBe(0);
    const k1 = parse(fromSequence.stdout).filter((l) => l.partitionKey === 'k1');
    expect(k1.map((l) => l.data)).toEqual(['k1:2', 'k1:3', 'k1:4']);
    expect(parse(fromSequence.stdout).every((l) => l.shard === third.shard)).toBe(true);

    const noShard = runCli(endpoints, ['tail', streamName, '--from', third.sequenceNumber]);
    expect(noShard.status).toBe(2);
    expect(noShard.stderr).toMatch(/give --shard/);
    const bad = runCli(endpoints, ['tail', streamName, '--from', 'yesterday']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('(got "yesterday")');
    const missing = runCli(endpoints, ['tail', uniqueName('absent'), ...kinesisEndpoint]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(
      /^shardline tail: stream \S+: ListShards failed: ResourceNotFoundException/,
    );
  });

  it('exits 0 quietly when its output is closed (| head), and 130 on Ctrl-C', async () => {
    const streamName = uniqueName('tail-pipe');
    await createStream(stack.kinesis, { streamName, shardCount: 1 });
    await putKeyed(stack.kinesis, streamName, ['p'], 0, 5);

    const head = startCli(endpoints, ['tail', streamName, ...kinesisEndpoint, '--follow']);
    await waitFor(() => head.lines().length >= 5, 30_000, 'first records');
    head.child.stdout.destroy(); // the reader went away, as `| head -n 5` does
    await putKeyed(stack.kinesis, streamName, ['p'], 5, 5); // the next write meets the closed pipe
    expect(await head.exited).toBe(0);
    expect(head.stderr()).toBe('');

    const interrupted = startCli(endpoints, ['tail', streamName, ...kinesisEndpoint, '-f']);
    await waitFor(() => interrupted.lines().length >= 10, 30_000, 'records before Ctrl-C');
    interrupted.child.kill('SIGINT');
    expect(await interrupted.exited).toBe(130);
    expect(interrupted.stderr()).toBe('');
    expect(parse(interrupted.stdout())).toHaveLength(10);
  });

  it('follows a split and a merge, printing every record once, parent before child per key', async () => {
    const streamName = uniqueName('tail-reshard');
    await createStream(stack.kinesis, { streamName, shardCount: 1 });
    const keys = Array.from({ length: 8 }, (_, i) => `key-${i}`);
    const follow = startCli(endpoints, ['tail', streamName, ...kinesisEndpoint, '--follow']);
    try {
      let written = await putKeyed(stack.kinesis, streamName, keys, 0, 5);
      await waitFor(() => follow.lines().length >= written, 30_000, 'records before the split');

      const [parent] = await listAllShards(stack.kinesis, streamName);
      await stack.kinesis.send(
        new SplitShardCommand({
          StreamName: streamName,
          ShardToSplit: parent?.ShardId,
          NewStartingHashKey: (1n << 127n).toString(),
        }),
      );
      await waitForStreamActive(stack.kinesis, streamName);
      written += await putKeyed(stack.kinesis, streamName, keys, 5, 5);

      const open = (await listAllShards(stack.kinesis, streamName)).filter(
        (s) => s.SequenceNumberRange?.EndingSequenceNumber === undefined,
      );
      expect(open).toHaveLength(2);
      await stack.kinesis.send(
        new MergeShardsCommand({
          StreamName: streamName,
          ShardToMerge: open[0]?.ShardId,
          AdjacentShardToMerge: open[1]?.ShardId,
        }),
      );
      await waitForStreamActive(stack.kinesis, streamName);
      written += await putKeyed(stack.kinesis, streamName, keys, 10, 5);
      await waitFor(() => follow.lines().length >= written, 45_000, `all ${written} records`);
      await new Promise((resolve) => setTimeout(resolve, 1_500)); // any duplicate would show by now
    } finally {
      follow.child.kill('SIGINT');
    }
    expect(await follow.exited).toBe(130);
    expect(follow.stderr()).toBe('');
    const lines = parse(follow.stdout());
    expect(lines).toHaveLength(keys.length * 15);
    expect(new Set(lines.map((l) => `${l.sequenceNumber}/${l.subSequenceNumber}`)).size).toBe(lines.length);
    const shards = new Set(lines.map((l) => l.shard));
    expect(shards.size).toBe(4); // parent, two children, merged child
    for (const key of keys) {
      const mine = lines.filter((l) => l.partitionKey === key).map((l) => l.data);
      expect(mine).toEqual(Array.from({ length: 15 }, (_, i) => `${key}:${i}`));
    }
  });
});
