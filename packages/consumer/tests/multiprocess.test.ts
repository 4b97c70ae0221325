import type { ChildProcess } from 'node:child_process';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { createStream, type KinesisSimulator, startKinesisSimulator, uniqueName } from '@shardline/testkit';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { type WorkerLine as Line, spawnWorker } from './fixtures/processes.js';
import { localStack, putKeyed, waitFor } from './helpers.js';

const stack = localStack();
afterAll(() => stack.destroy());

const FAILOVER_MS = 2_000;

// Fan-out: the stream is on the Kinesis simulator (HTTP/2), the leases in the local stack's DynamoDB.
describe.each(['polling', 'fan-out'] as const)('workers as separate OS processes (%s)', (mode) => {
  it('SIGKILL one and freeze another: shards taken over, nothing lost, zombie checkpoints rejected', async () => {
    const streamName = uniqueName('procs');
    const applicationName = uniqueName('app');
    let simulator: KinesisSimulator | undefined;
    let kinesis: KinesisClient = stack.kinesis;
    if (mode === 'fan-out') {
      simulator = await startKinesisSimulator({ shardLimits: false, fanOut: { consumerActivationMs: 100 } });
      simulator.createStream(streamName, 4);
      kinesis = simulator.createClient();
    } else {
      await createStream(stack.kinesis, { streamName, shardCount: 4 });
    }
    const lines: Line[] = [];
    const base = {
      endpoints: inject('localStack'),
      streamName,
      applicationName,
      failoverTimeMs: FAILOVER_MS,
      ...(simulator ? { fanOutEndpoint: simulator.endpoint } : {}),
    };
    const ids = ['p1', 'p2', 'p3'];
    const children = ids.map((workerId) => spawnWorker({ ...base, workerId, batchDelayMs: 150 }, lines));
    const [killed, frozen] = children as [ChildProcess, ChildProcess, ChildProcess];
    const keys = Array.from({ length: 8 }, (_, i) => `k${i}`);
    let written = 0;
    let producing = true;
    let producer: Promise<void> = Promise.resolve();
    try {
      await waitFor(() => lines.filter((l) => l.type === 'started').length === 3, 30_000, 'workers started');
      producer = (async () => {
        for (let i = 0; producing; i++) {
          written += await putKeyed(kinesis, streamName, keys, i, 1);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })();
      const holders = (): Map<string, string> => {
        const owner = new Map<string, string>();
        for (const line of lines)
          if (line.type === 'acquired' && line.shardId) owner.set(line.shardId, line.worker);
        return owner;
      };
      await waitFor(
        () => holders().size === 4 && new Set(holders().values()).size === 3,
        20_000,
        'leases spread over the 3 workers',
      );
      await waitFor(
        () => lines.some((l) => l.type === 'record' && l.worker === 'p1'),
        10_000,
        'p1 processing',
      );
      killed.kill('SIGKILL');
      frozen.kill('SIGSTOP');
      const killedAt = Date.now();
      const deadShards = [...holders()].filter(([, w]) => w !== 'p3').map(([s]) => s);
      await waitFor(
        () => deadShards.every((shardId) => holders().get(shardId) === 'p3'),
        FAILOVER_MS * 4,
        'p3 took every shard of the dead and the frozen worker',
      );
      frozen.kill('SIGCONT');
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      producing = false;
      await producer;

      const processed = (): Set<string> =>
        new Set(lines.filter((l) => l.type === 'record').map((l) => l.data ?? ''));
      await waitFor(() => processed().size >= written, 30_000, `all ${written} records processed`);
      expect(processed().size).toBe(written);

      // The frozen worker woke up as a zombie: its leases were gone, its checkpoints rejected.
      const zombie = lines.filter((l) => l.worker === 'p2' && l.at > killedAt);
      expect(zombie.some((l) => l.type === 'leaseLost')).toBe(true);
      // Any checkpoint it wrote after waking is on a shard it legitimately took again afterwards.
      for (const line of zombie) {
        // Written by the zombie: sent after it woke (a write in flight at SIGSTOP landed before the freeze).
        if (line.type !== 'checkpoint' || (line.sentAt ?? line.at) <= killedAt) continue;
        const retaken = zombie.find(
          (l) => l.type === 'acquired' && l.shardId === line.shardId && l.at <= line.at,
        );
        if (!retaken)
          console.log(
            JSON.stringify(lines.filter((l) => l.type !== 'record' && l.at > killedAt - 3000)),
            killedAt,
          );
        expect(retaken).toBeDefined();
      }

      // Duplicates are limited to what followed the last checkpoint: a record processed again was never
      // covered by a checkpoint written before the re-processing worker took the lease.
      const occurrences = new Map<string, Line[]>();
      for (const line of lines) {
        if (line.type !== 'record') continue;
        const list = occurrences.get(line.data ?? '') ?? [];
        list.push(line);
        occurrences.set(line.data ?? '', list);
      }
      let duplicates = 0;
      for (const list of occurrences.values()) {
        for (const again of list.slice(1)) {
          duplicates++;
          const acquiredAt = Math.max(
            ...lines
              .filter(
                (l) => l.type === 'acquired' && l.worker === again.worker && l.shardId === again.shardId,
              )
              .filter((l) => l.at <= again.at)
              .map((l) => l.at),
          );
          const covering = lines.filter(
            (l) =>
              l.type === 'checkpoint' &&
              l.shardId === again.shardId &&
              BigInt(l.seq ?? '0') >= BigInt(again.seq ?? '0') &&
              l.at < acquiredAt,
          );
          expect(covering).toEqual([]);
        }
      }
      expect(duplicates).toBeLessThan(written);
    } finally {
      producing = false;
      await producer;
      for (const child of children) {
        child.kill('SIGCONT');
        child.kill('SIGKILL');
      }
      await simulator?.stop();
    }
  });
});
