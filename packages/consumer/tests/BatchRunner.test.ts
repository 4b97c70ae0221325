import { describe, expect, it } from 'vitest';
import { TypedEvents } from '../src/events.js';
import {
  type ConsumerEvents,
  type DeadLetterHandler,
  type Lease,
  RecordFailedError,
  type RecordHandler,
  type RecordProcessor,
  type UserRecord,
} from '../src/index.js';
import { LeaseRenewer } from '../src/leases/LeaseRenewer.js';
import { BatchRunner } from '../src/lifecycle/BatchRunner.js';
import { ShardCheckpointer } from '../src/lifecycle/Checkpointer.js';
import { Counters } from '../src/metrics.js';
import { toRecordProcessor } from '../src/processor.js';
import { InMemoryLeaseStore } from './fixtures/InMemoryLeaseStore.js';

/** A lease store whose first `failures` checkpoint writes throw (as DynamoDB throttling past the retries). */
class FlakyCheckpointStore extends InMemoryLeaseStore {
  constructor(public failures: number) {
    super();
  }
  override async checkpoint(lease: Lease, owner: string, checkpoint: string, sub: number) {
    if (this.failures > 0) {
      this.failures--;
      throw Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' });
    }
    return super.checkpoint(lease, owner, checkpoint, sub);
  }
}

const id = (r: { sequenceNumber: string; subSequenceNumber: number }): string =>
  `${r.sequenceNumber}/${r.subSequenceNumber}`;

/** `count` plain records with sequence numbers 1000, 1001, ... */
function plain(count: number): UserRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    partitionKey: `k${i}`,
    data: new Uint8Array([i % 256]),
    sequenceNumber: String(1000 + i),
    subSequenceNumber: 0,
    aggregated: false,
  }));
}

/** Aggregates of `size` user records each, with the given sequence numbers. */
function aggregates(sequenceNumbers: string[], size: number): UserRecord[] {
  return sequenceNumbers.flatMap((sequenceNumber) =>
    Array.from({ length: size }, (_, sub) => ({
      partitionKey: `k${sub}`,
      data: new Uint8Array([sub]),
      sequenceNumber,
      subSequenceNumber: sub,
      aggregated: true,
    })),
  );
}

interface HarnessOptions {
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  onProcessingFailure?: 'retry' | 'skip';
  deadLetter?: DeadLetterHandler;
  failingCheckpointWrites?: number;
}

async function harness(processor: RecordProcessor | RecordHandler, options: HarnessOptions = {}) {
  const store = new FlakyCheckpointStore(0);
  await store.createLeaseIfNotExists({ leaseKey: 's', checkpoint: 'TRIM_HORIZON' });
  const initial = await store.getLease('s');
  if (!initial) throw new Error('no lease');
  const lease = await store.takeLease(initial, 'w');
  if (!lease) throw new Error('not taken');
  store.failures = options.failingCheckpointWrites ?? 0;
  const renewer = new LeaseRenewer({
    store,
    workerId: 'w',
    failoverTimeMs: 60_000,
    renewIntervalMs: 20_000,
    maxConcurrentRenewals: 1,
    now: () => 0,
    onLost: () => {},
  });
  renewer.add(lease, 0);
  const checkpoints: string[] = [];
  const checkpointer = new ShardCheckpointer({
    shardId: 's',
    workerId: 'w',
    store,
    renewer,
    initial: { checkpoint: 'TRIM_HORIZON', subSequenceNumber: 0 },
    maxAttempts: 1,
    backoffBaseMs: 1,
    backoffMaxMs: 1,
    onCheckpoint: (sequenceNumber, sub) => checkpoints.push(`${sequenceNumber}/${sub}`),
  });
  const events = new TypedEvents();
  const log = {
    errors: [] as ConsumerEvents['processingError'][],
    blocked: [] as ConsumerEvents['shardBlocked'][],
    unblocked: [] as ConsumerEvents['shardUnblocked'][],
    skipped: [] as ConsumerEvents['recordSkipped'][],
    deadLettered: [] as ConsumerEvents['recordDeadLettered'][],
  };
  events.on('processingError', (e) => log.errors.push(e));
  events.on('shardBlocked', (e) => log.blocked.push(e));
  events.on('shardUnblocked', (e) => log.unblocked.push(e));
  events.on('recordSkipped', (e) => log.skipped.push(e));
  events.on('recordDeadLettered', (e) => log.deadLettered.push(e));
  const counters = new Counters();
  const abort = new AbortController();
  const flags = { stopping: false, leaseLost: false };
  const processed: string[] = [];
  const runner = new BatchRunner({
    shardId: 's',
    processor: toRecordProcessor(processor),
    checkpointer,
    options: {
      processingRetry: {
        maxAttempts: options.maxAttempts ?? 3,
        baseDelayMs: options.baseDelayMs ?? 1,
        maxDelayMs: options.maxDelayMs ?? 2,
      },
      onProcessingFailure: options.onProcessingFailure ?? 'retry',
      deadLetter: options.deadLetter,
      logger: {},
    },
    events,
    counters,
    signal: abort.signal,
    isStopping: () => flags.stopping || flags.leaseLost,
    isLeaseLost: () => flags.leaseLost,
    onProcessed: (records) => {
      for (const record of records) processed.push(id(record));
    },
  });
  const stop = (): void => {
    flags.stopping = true;
    abort.abort();
  };
  const leaseCheckpoint = async () => {
    const current = await store.getLease('s');
    return current && `${current.checkpoint}/${current.checkpointSubSequenceNumber}`;
  };
  return { runner, checkpointer, checkpoints, events, log, counters, processed, stop, leaseCheckpoint };
}

describe('BatchRunner (poison records)', () => {
  it('plain handler, failing record unknown: halving isolates it; each record is committed once and the dead letter gets exactly it', async () => {
    const records = plain(500);
    const poison = id(records[250] as UserRecord);
    const committed: string[] = [];
    const failedCalls: number[] = [];
    const okCalls: number[] = [];
    // All or nothing, like a batch write: a batch holding the poison record fails before committing anything.
    const handler: RecordHandler = async (batch) => {
      if (batch.some((r) => id(r) === poison)) {
        failedCalls.push(batch.length);
        throw new Error('bad payload');
      }
      okCalls.push(batch.length);
      for (const r of batch) committed.push(id(r));
    };
    const dead: { records: string[]; attempts: number; shardId: string }[] = [];
    const h = await harness(handler, {
      deadLetter: (list, _error, context) => {
        dead.push({ records: list.map(id), attempts: context.attempts, shardId: context.shardId });
      },
    });
    expect(await h.runner.run(records, 0)).toBe('ok');

    expect(committed).toEqual(records.map(id).filter((r) => r !== poison));
    expect(dead).toEqual([{ records: [poison], attempts: 3, shardId: 's' }]);
    // Halving: every failed call held the poison record, the window halves until it is alone, then 2 retries.
    expect(failedCalls).toEqual([500, 250, 125, 63, 32, 16, 8, 4, 2, 1, 1, 1]);
    // The first half, then everything after the dead-lettered record at once (the halving is over).
    expect(okCalls).toEqual([250, 249]);
    expect(h.log.errors.map((e) => e.record?.attempts)).toEqual([
      ...Array<undefined>(9).fill(undefined),
      1,
      2,
      3,
    ]);
    expect(h.log.errors.map((e) => e.willRetry)).toEqual([...Array<boolean>(11).fill(true), false]);
    expect(h.log.deadLettered).toEqual([
      { shardId: 's', sequenceNumber: '1250', subSequenceNumber: 0, attempts: 3 },
    ]);
    expect(h.counters.recordsDeadLettered).toBe(1);
    expect(h.log.blocked).toEqual([]);
    // Each successful window was checkpointed, the dead-lettered record too, and the batch ends at its last.
    expect(h.checkpoints).toContain(poison);
    expect(h.checkpoints.at(-1)).toBe('1499/0');
    expect(await h.leaseCheckpoint()).toBe('1499/0');
    expect(h.processed).toEqual(committed);
    expect(h.runner.failingRecord).toBeUndefined();
  });

  it('KCL-style object that checkpoints and then throws: records before the failure are never handed out again', async () => {
    const records = plain(500);
    const poison = id(records[250] as UserRecord);
    const handedOut = new Map<string, number>();
    const firstOfCall: string[] = [];
    const processor: RecordProcessor = {
      async processRecords({ records: batch, checkpointer }) {
        firstOfCall.push(id(batch[0] as UserRecord));
        for (const r of batch) {
          handedOut.set(id(r), (handedOut.get(id(r)) ?? 0) + 1);
          if (id(r) === poison) throw new Error('bad payload');
          await checkpointer.checkpointRecord(r);
        }
      },
      shardEnded: ({ checkpointer }) => checkpointer.checkpoint(),
    };
    const h = await harness(processor, { onProcessingFailure: 'skip' });
    expect(await h.runner.run(records, 0)).toBe('ok');

    expect([...handedOut].filter(([, n]) => n !== 1)).toEqual([[poison, 3]]);
    expect(handedOut.size).toBe(500);
    // Retries start at the failing record, with the rest of the batch.
    expect(firstOfCall).toEqual(['1000/0', poison, poison, '1251/0']);
    expect(h.log.skipped.map((e) => [id(e), e.attempts, e.partitionKey, e.error.code])).toEqual([
      [poison, 3, 'k250', 'PROCESSOR_FAILED'],
    ]);
    expect(h.counters.recordsSkipped).toBe(1);
    expect(h.processed).toEqual(records.map(id).filter((r) => r !== poison));
    expect(await h.leaseCheckpoint()).toBe('1499/0');
  });

  it('aggregates: the failing user record is found by sub-sequence number, and checkpoint(seq) inside a part of an aggregate stays in range', async () => {
    const records = aggregates(['100', '200', '300'], 10);
    const poison = '200/3';
    const committed: string[] = [];
    // Checkpoints by sequence number only, as many KCL processors do, after committing a whole call.
    const processor: RecordProcessor = {
      async processRecords({ records: batch, checkpointer }) {
        if (batch.some((r) => id(r) === poison)) throw new Error('bad payload');
        for (const r of batch) committed.push(id(r));
        await checkpointer.checkpoint((batch.at(-1) as UserRecord).sequenceNumber);
      },
      shardEnded: ({ checkpointer }) => checkpointer.checkpoint(),
    };
    const dead: string[][] = [];
    const h = await harness(processor, { deadLetter: (list) => void dead.push(list.map(id)) });
    expect(await h.runner.run(records, 0)).toBe('ok');

    expect(dead).toEqual([[poison]]);
    expect(committed).toEqual(records.map(id).filter((r) => r !== poison));
    // Only the processor's error, never a CheckpointOutOfRangeError from checkpoint('200') in a partial window.
    expect(h.log.errors.every((e) => (e.error.cause as Error).message === 'bad payload')).toBe(true);
    expect(h.checkpoints).toContain('200/2');
    expect(h.checkpoints).toContain(poison);
    expect(h.checkpoints.at(-1)).toBe('300/9');
  });

  it("'retry' keeps retrying the record at the capped backoff, reports the shard blocked, and unblocks when it passes", async () => {
    const records = plain(20);
    const poison = id(records[10] as UserRecord);
    let broken = true;
    const handedOut = new Map<string, number>();
    const handler: RecordHandler = async (batch) => {
      for (const r of batch) {
        handedOut.set(id(r), (handedOut.get(id(r)) ?? 0) + 1);
        if (broken && id(r) === poison) throw new RecordFailedError(r, new Error('downstream says no'));
      }
    };
    const h = await harness(handler, { maxAttempts: 3 });
    const snapshots: { blockedSince: number | undefined; gauge: number; attempts: number | undefined }[] = [];
    h.events.on('shardBlocked', () => {
      snapshots.push({
        blockedSince: h.runner.blockedSince,
        gauge: h.counters.shardsBlocked,
        attempts: h.runner.failingRecord?.attempts,
      });
      if (snapshots.length === 4) broken = false;
    });
    const before = Date.now();
    expect(await h.runner.run(records, 0)).toBe('ok');

    expect(h.log.blocked.map((e) => [id(e), e.attempts])).toEqual([
      [poison, 3],
      [poison, 4],
      [poison, 5],
      [poison, 6],
    ]);
    expect(h.log.blocked.every((e) => e.blockedForMs >= 0 && e.shardId === 's')).toBe(true);
    expect(snapshots.map((s) => [s.gauge, s.attempts])).toEqual([
      [1, 3],
      [1, 4],
      [1, 5],
      [1, 6],
    ]);
    expect(snapshots[0]?.blockedSince).toBeGreaterThanOrEqual(before);
    expect(h.log.unblocked.map((e) => [id(e), e.attempts, e.resolution])).toEqual([[poison, 6, 'processed']]);
    expect(h.counters.shardsBlocked).toBe(0);
    expect(h.runner.blockedSince).toBeUndefined();
    // Records before it were handed out once (checkpointed when the handler named the failure), it 7 times.
    expect([...handedOut].filter(([, n]) => n !== 1)).toEqual([[poison, 7]]);
    expect(h.checkpoints).toEqual(['1009/0', '1019/0']);
    expect(h.counters.recordsSkipped + h.counters.recordsDeadLettered).toBe(0);
  });

  it('a failing deadLetter hook is reported, blocks the shard and is retried; the record is never skipped silently', async () => {
    const records = plain(6);
    const poison = id(records[2] as UserRecord);
    const handler: RecordHandler = async (batch) => {
      for (const r of batch) if (id(r) === poison) throw new RecordFailedError(r);
    };
    const hookCalls: string[][] = [];
    const h = await harness(handler, {
      maxAttempts: 2,
      deadLetter: async (list) => {
        hookCalls.push(list.map(id));
        if (hookCalls.length <= 2) throw new Error('queue unavailable');
      },
    });
    expect(await h.runner.run(records, 0)).toBe('ok');

    expect(hookCalls).toEqual([[poison], [poison], [poison]]);
    expect(
      h.log.errors.map((e) => [(e.error.cause as { code?: string }).code ?? e.error.code, e.willRetry]),
    ).toEqual([
      ['RECORD_FAILED', true],
      ['RECORD_FAILED', false],
      ['DEAD_LETTER_FAILED', true],
      ['DEAD_LETTER_FAILED', true],
    ]);
    expect(h.log.blocked.map((e) => [id(e), e.attempts])).toEqual([
      [poison, 2],
      [poison, 2],
    ]);
    expect(h.log.unblocked.map((e) => [id(e), e.resolution])).toEqual([[poison, 'dead-lettered']]);
    expect(h.counters.shardsBlocked).toBe(0);
    expect(h.log.deadLettered.map(id)).toEqual([poison]);
    expect(h.checkpoints).toEqual(['1001/0', poison, '1005/0']);
  });

  it('a stop during the backoff returns at once, and nothing after the last record done can be checkpointed', async () => {
    const records = plain(10);
    // Names the failing record but checkpoints nothing itself (allowed for the object form).
    const processor: RecordProcessor = {
      processRecords({ records: batch }) {
        const poison = batch.find((r) => r.sequenceNumber === '1005');
        if (poison) throw new RecordFailedError(poison);
      },
      shardEnded: ({ checkpointer }) => checkpointer.checkpoint(),
    };
    const h = await harness(processor, { baseDelayMs: 60_000, maxDelayMs: 60_000 });
    h.events.on('processingError', () => setTimeout(h.stop, 20));
    const started = Date.now();
    expect(await h.runner.run(records, 0)).toBe('interrupted');
    expect(Date.now() - started).toBeLessThan(2_000);
    // As `shutdownRequested` would: checkpoint() covers the records before the failing one, not the batch.
    await h.checkpointer.checkpoint();
    expect(await h.leaseCheckpoint()).toBe('1004/0');
    h.runner.close();
    expect(h.counters.shardsBlocked).toBe(0);
  });

  it('a stop while the failing record is unknown leaves nothing of the batch checkpointable; a blocked shard is unblocked as stopped', async () => {
    const records = plain(8);
    const processor: RecordProcessor = {
      processRecords() {
        throw new Error('down');
      },
      shardEnded: ({ checkpointer }) => checkpointer.checkpoint(),
    };
    const h = await harness(processor, { maxAttempts: 1 });
    h.events.on('shardBlocked', () => h.stop());
    expect(await h.runner.run(records, 0)).toBe('interrupted');
    // 8 -> 4 -> 2 -> 1: the first record is isolated (maxAttempts 1) and blocks the shard.
    expect(h.log.errors.map((e) => e.record && id(e.record))).toEqual([
      undefined,
      undefined,
      undefined,
      '1000/0',
    ]);
    expect(h.counters.shardsBlocked).toBe(1);
    await h.checkpointer.checkpoint();
    expect(await h.leaseCheckpoint()).toBe('TRIM_HORIZON/0');
    h.runner.close();
    expect(h.log.unblocked.map((e) => [id(e), e.resolution])).toEqual([['1000/0', 'stopped']]);
    expect(h.counters.shardsBlocked).toBe(0);
  });

  it('a whole batch failing once (transient) is halved and finished; no record is blamed', async () => {
    const records = plain(8);
    let calls = 0;
    const sizes: number[] = [];
    const committed: string[] = [];
    const handler: RecordHandler = async (batch) => {
      sizes.push(batch.length);
      if (++calls === 1) throw new Error('timeout');
      for (const r of batch) committed.push(id(r));
    };
    const h = await harness(handler);
    expect(await h.runner.run(records, 0)).toBe('ok');
    expect(sizes).toEqual([8, 4, 4]);
    expect(committed).toEqual(records.map(id));
    expect(h.log.errors.map((e) => [e.attempt, e.record])).toEqual([[1, undefined]]);
    expect(h.checkpoints).toEqual(['1003/0', '1007/0']);
  });

  it('a checkpoint write that fails is no record’s fault: the same records are tried again, not halved', async () => {
    const records = plain(10);
    const sizes: number[] = [];
    const h = await harness(
      async (batch) => {
        sizes.push(batch.length);
      },
      { failingCheckpointWrites: 1 },
    );
    expect(await h.runner.run(records, 0)).toBe('ok');
    expect(sizes).toEqual([10, 10]);
    expect(h.log.errors.map((e) => [(e.error.cause as { code?: string }).code, e.record])).toEqual([
      ['CHECKPOINT_FAILED', undefined],
    ]);
    expect(h.checkpoints).toEqual(['1009/0']);
  });
});
