import type { ChildProcess } from 'node:child_process';
import { createStream, uniqueName } from '@shardline/testkit';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { DynamoDBLeaseStore } from '../src/index.js';
import { type WorkerLine as Line, spawnWorker } from './fixtures/processes.js';
import { localStack, putKeyed, waitFor } from './helpers.js';

const stack = localStack();
afterAll(() => stack.destroy());

// Long enough that renewals never lapse on a loaded 2-core machine: every lease move below is a handoff.
const FAILOVER_MS = 5_000;

function holders(lines: readonly Line[]): Map<string, string> {
  const owner = new Map<string, string>();
  for (const line of lines)
    if (line.type === 'acquired' && line.shardId) owner.set(line.shardId, line.worker);
  return owner;
}

/** Record lines seen more than once, as [first, ...again]. */
function repeated(lines: readonly Line[]): Line[][] {
  const byData = new Map<string, Line[]>();
  for (const line of lines) {
    if (line.type !== 'record') continue;
    const list = byData.get(line.data ?? '') ?? [];
    list.push(line);
    byData.set(line.data ?? '', list);
  }
  return [...byData.values()].filter((list) => list.length > 1);
}

describe('graceful handoff (KCL 3.x checkpointOwner)', () => {
  it('the table protocol: ask, old owner renews and checkpoints, transfers; evict refuses mid-handoff', async () => {
    const tableName = uniqueName('handoff');
    const store = new DynamoDBLeaseStore({ client: stack.dynamoDB, tableName });
    await store.ensureTable();
    await store.createLeaseIfNotExists({ leaseKey: 'shardId-000000000000', checkpoint: 'TRIM_HORIZON' });
    const [fresh] = await store.listLeases();
    if (!fresh) throw new Error('no lease');
    const a = await store.takeLease(fresh, 'A');
    if (!a) throw new Error('take failed');
    expect(await store.requestHandoff(a, 'B')).toBe(true);
    expect(await store.requestHandoff(a, 'C')).toBe(false); // one handoff at a time
    const asked = await store.getLease(a.leaseKey);
    expect(asked).toMatchObject({ leaseOwner: 'B', checkpointOwner: 'A', leaseCounter: a.leaseCounter });
    // A learns of it from its own renewal, and may still checkpoint.
    const renewed = await store.renewLease(a, 'A');
    expect(renewed).toMatchObject({
      leaseOwner: 'B',
      checkpointOwner: 'A',
      leaseCounter: a.leaseCounter + 1,
    });
    if (!renewed) throw new Error('renewal failed');
    expect(await store.evictLease(renewed, 'A')).toBe(false);
    const checkpointed = await store.checkpoint(
      renewed,
      'A',
      '49590000000000000000000000000000000000000000000000000001',
      3,
    );
    expect(checkpointed).toMatchObject({ checkpointOwner: 'A', checkpointSubSequenceNumber: 3 });
    if (!checkpointed) throw new Error('checkpoint failed');
    // B may not write while A holds it.
    expect(await store.renewLease(checkpointed, 'B')).toBeUndefined();
    expect(await store.transferLease(checkpointed, 'A')).toBe(true);
    const after = await store.getLease(a.leaseKey);
    expect(after).toMatchObject({
      leaseOwner: 'B',
      checkpointOwner: undefined,
      leaseCounter: checkpointed.leaseCounter + 1,
      checkpoint: '49590000000000000000000000000000000000000000000000000001',
    });
    if (!after) throw new Error('no lease');
    // A's writes are fenced from now on.
    expect(await store.renewLease(checkpointed, 'A')).toBeUndefined();
    expect(await store.checkpoint(checkpointed, 'A', '1', 0)).toBeUndefined();
    // A forced take (handoff timed out) ends a handoff in progress too.
    expect(await store.requestHandoff(after, 'C')).toBe(true);
    const forced = await store.takeLease((await store.getLease(a.leaseKey)) ?? after, 'C');
    expect(forced).toMatchObject({ leaseOwner: 'C', checkpointOwner: undefined });
  });

  it('3 workers start together on 8 shards and a 4th joins while records flow: zero duplicates; after a SIGKILL, duplicates only after its last checkpoint', async () => {
    const streamName = uniqueName('handoff');
    const applicationName = uniqueName('app');
    await createStream(stack.kinesis, { streamName, shardCount: 8 });
    const lines: Line[] = [];
    const base = {
      endpoints: inject('localStack'),
      streamName,
      applicationName,
      failoverTimeMs: FAILOVER_MS,
    };
    const children = ['h1', 'h2', 'h3'].map((workerId) =>
      spawnWorker({ ...base, workerId, batchDelayMs: 100 }, lines),
    );
    const keys = Array.from({ length: 16 }, (_, i) => `k${i}`);
    let written = 0;
    let producing = true;
    let producer: Promise<void> = Promise.resolve();
    const processed = (): Set<string> =>
      new Set(lines.filter((l) => l.type === 'record').map((l) => l.data ?? ''));
    try {
      await waitFor(() => lines.filter((l) => l.type === 'started').length === 3, 30_000, 'workers started');
      producer = (async () => {
        for (let i = 0; producing; i++) {
          written += await putKeyed(stack.kinesis, streamName, keys, i, 1);
          await new Promise((resolve) => setTimeout(resolve, 40));
        }
      })();
      const spread = (workers: number, max: number) => (): boolean => {
        const owners = [...holders(lines).values()];
        const counts = new Map<string, number>();
        for (const owner of owners) counts.set(owner, (counts.get(owner) ?? 0) + 1);
        return owners.length === 8 && counts.size === workers && Math.max(...counts.values()) <= max;
      };
      await waitFor(spread(3, 3), 30_000, 'leases spread over 3 workers');
      children.push(spawnWorker({ ...base, workerId: 'h4', batchDelayMs: 100 }, lines));
      await waitFor(spread(4, 2), 30_000, 'leases spread over 4 workers');
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const snapshot = written;
      await waitFor(() => processed().size >= snapshot, 30_000, `all ${snapshot} records processed`);

      // Balancing moved leases (at least the joiner's two), every one by handoff, none stolen or lost.
      const handedOff = lines.filter((l) => l.type === 'handedOff');
      expect(handedOff.length).toBeGreaterThanOrEqual(2);
      expect(lines.filter((l) => l.type === 'acquired' && l.stolen)).toEqual([]);
      expect(lines.filter((l) => l.type === 'leaseLost' || l.type === 'rejected')).toEqual([]);
      expect(repeated(lines)).toEqual([]);

      // SIGKILL one worker: its shards fail over; only records after its last checkpoint come again.
      const victimId = 'h2';
      const victim = children[1] as ChildProcess;
      const killedAt = Date.now();
      victim.kill('SIGKILL');
      const victimShards = [...holders(lines)].filter(([, w]) => w === victimId).map(([s]) => s);
      expect(victimShards.length).toBeGreaterThan(0);
      await waitFor(
        () => victimShards.every((shardId) => holders(lines).get(shardId) !== victimId),
        FAILOVER_MS * 4,
        'the dead worker’s shards taken over',
      );
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      producing = false;
      await producer;
      await waitFor(() => processed().size >= written, 30_000, `all ${written} records processed`);
      expect(processed().size).toBe(written);
      for (const list of repeated(lines)) {
        const [first, ...again] = list as [Line, ...Line[]];
        expect(first.worker).toBe(victimId);
        let lastCheckpoint = 0n;
        for (const l of lines) {
          if (l.worker !== victimId || l.type !== 'checkpoint' || l.shardId !== first.shardId) continue;
          if (BigInt(l.seq ?? '0') > lastCheckpoint) lastCheckpoint = BigInt(l.seq ?? '0');
        }
        expect(BigInt(first.seq ?? '0')).toBeGreaterThan(lastCheckpoint);
        for (const line of again) expect(line.at).toBeGreaterThan(killedAt);
      }
    } finally {
      producing = false;
      await producer;
      for (const child of children) child.kill('SIGKILL');
    }
  });
});
