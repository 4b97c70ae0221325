import { createStream, uniqueName } from '@shardline/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type ConsumerEvents,
  DynamoDBLeaseStore,
  type KinesisConsumer,
  type KinesisConsumerOptions,
  type Processor,
  RecordFailedError,
  type UserRecord,
} from '../src/index.js';
import { FAST, localStack, makeConsumer, putKeyed, waitFor } from './helpers.js';

const stack = localStack();
afterAll(() => stack.destroy());

const SHARD = 'shardId-000000000000';
const POISON = 'a:250';
const BATCH = 500;
const { maxAttempts } = FAST.processingRetry;
const text = (record: UserRecord): string => new TextDecoder().decode(record.data);

type Form = 'plain handler' | 'KCL-style object' | 'per-shard factory';

/**
 * An application whose processor fails on one record (`a:250`) while `broken`. "Processed" means the work
 * was done: the plain handler and the object handle records one by one and say which one failed (the
 * handler throws a RecordFailedError, the object checkpoints before the failing record and throws); the
 * factory's processor is all or nothing (like a batch write), so the consumer has to find the record by
 * halving what it hands over.
 */
function application(form: Form) {
  const state = {
    broken: true,
    processed: new Map<string, number>(),
    sequenceOf: new Map<string, string>(),
    callSizes: [] as number[],
    created: [] as string[],
  };
  const failsOn = (record: UserRecord): boolean => state.broken && text(record) === POISON;
  const see = (records: UserRecord[]): void => {
    state.callSizes.push(records.length);
    for (const record of records) state.sequenceOf.set(text(record), record.sequenceNumber);
  };
  const done = (record: UserRecord): void => {
    state.processed.set(text(record), (state.processed.get(text(record)) ?? 0) + 1);
  };
  let processor: Processor;
  if (form === 'plain handler') {
    processor = async (records) => {
      see(records);
      for (const record of records) {
        if (failsOn(record)) throw new RecordFailedError(record, new Error('cannot parse'));
        done(record);
      }
    };
  } else if (form === 'KCL-style object') {
    processor = {
      async processRecords({ records, checkpointer }) {
        see(records);
        let previous: UserRecord | undefined;
        for (const record of records) {
          if (failsOn(record)) {
            if (previous) await checkpointer.checkpointRecord(previous);
            throw new Error('cannot parse');
          }
          done(record);
          previous = record;
        }
        await checkpointer.checkpoint();
      },
      shardEnded: ({ checkpointer }) => checkpointer.checkpoint(),
    };
  } else {
    processor = {
      createProcessor(shardId) {
        state.created.push(shardId);
        return async (records: UserRecord[]) => {
          see(records);
          if (records.some(failsOn)) throw new Error('batch rejected');
          for (const record of records) done(record);
        };
      },
    };
  }
  return { state, processor };
}

interface Run {
  consumer: KinesisConsumer;
  app: ReturnType<typeof application>;
  streamName: string;
  leases: DynamoDBLeaseStore;
  log: {
    moved: string[];
    blocked: ConsumerEvents['shardBlocked'][];
    unblocked: ConsumerEvents['shardUnblocked'][];
    skipped: ConsumerEvents['recordSkipped'][];
    deadLettered: ConsumerEvents['recordDeadLettered'][];
  };
}

async function run(form: Form, options: Partial<KinesisConsumerOptions>, test: (run: Run) => Promise<void>) {
  const streamName = uniqueName('poison');
  const applicationName = uniqueName('app');
  await createStream(stack.kinesis, { streamName, shardCount: 1 });
  await putKeyed(stack.kinesis, streamName, ['a'], 0, BATCH); // one PutRecords call, one GetRecords batch
  const app = application(form);
  const consumer = makeConsumer(stack, {
    streamName,
    applicationName,
    initialPosition: 'TRIM_HORIZON',
    processor: app.processor,
    ...options,
  });
  const log: Run['log'] = { moved: [], blocked: [], unblocked: [], skipped: [], deadLettered: [] };
  consumer.on('leaseLost', ({ shardId, reason }) => log.moved.push(`lost ${shardId} ${reason}`));
  consumer.on('leaseReleased', ({ shardId }) => log.moved.push(`released ${shardId}`));
  consumer.on('shardBlocked', (event) => log.blocked.push(event));
  consumer.on('shardUnblocked', (event) => log.unblocked.push(event));
  consumer.on('recordSkipped', (event) => log.skipped.push(event));
  consumer.on('recordDeadLettered', (event) => log.deadLettered.push(event));
  const leases = new DynamoDBLeaseStore({ client: stack.createDynamoDBClient(), tableName: applicationName });
  await consumer.start();
  try {
    await test({ consumer, app, streamName, leases, log });
  } finally {
    await consumer.stop({ timeoutMs: 5_000 });
  }
}

/** `a:from` .. `a:to-1`, without the poison record. */
function keys(from: number, to: number, without = POISON): string[] {
  return Array.from({ length: to - from }, (_, i) => `a:${from + i}`).filter((key) => key !== without);
}

describe.each<Form>(['plain handler', 'KCL-style object', 'per-shard factory'])(
  'a poison record in the middle of a 500-record batch: %s',
  (form) => {
    it('the dead-letter hook gets exactly it after maxAttempts; the records before it are processed once; the shard carries on', async () => {
      const dead: { records: string[]; attempts: number; shardId: string }[] = [];
      await run(
        form,
        {
          deadLetter: async (records, _error, context) => {
            dead.push({ records: records.map(text), attempts: context.attempts, shardId: context.shardId });
          },
        },
        async ({ consumer, app, streamName, leases, log }) => {
          const { state } = app;
          await waitFor(() => state.processed.size >= BATCH - 1, 30_000, 'the rest of the batch processed');
          expect(state.callSizes[0]).toBe(BATCH); // the premise: one batch held all 500 records
          expect(dead).toEqual([{ records: [POISON], attempts: maxAttempts, shardId: SHARD }]);
          expect(log.deadLettered.map((e) => [e.sequenceNumber, e.subSequenceNumber, e.attempts])).toEqual([
            [state.sequenceOf.get(POISON), 0, maxAttempts],
          ]);
          // Every other record exactly once, in order; the poison record never counted as processed.
          expect([...state.processed.keys()]).toEqual(keys(0, BATCH));
          expect([...state.processed.values()].every((n) => n === 1)).toBe(true);
          // The shard carries on with new records.
          await putKeyed(stack.kinesis, streamName, ['a'], BATCH, 3);
          await waitFor(() => state.processed.size >= BATCH + 2, 30_000, 'new records processed');
          expect([...state.processed.keys()].slice(BATCH - 1)).toEqual(['a:500', 'a:501', 'a:502']);
          await waitFor(
            async () => (await leases.getLease(SHARD))?.checkpoint === state.sequenceOf.get('a:502'),
            10_000,
            'checkpointed through the new records',
          );
          const metrics = consumer.metrics();
          expect([metrics.recordsDeadLettered, metrics.recordsSkipped, metrics.shardsBlocked]).toEqual([
            1, 0, 0,
          ]);
          expect(metrics.recordsProcessed).toBe(BATCH + 2);
          expect(log.blocked).toEqual([]);
          expect(log.moved).toEqual([]);
        },
      );
    });

    it('without a hook the shard is reported blocked and keeps its lease; it carries on once the record passes', async () => {
      await run(form, {}, async ({ consumer, app, leases, log }) => {
        const { state } = app;
        // Blocked for longer than a failover period: long enough for a lease to move if it were given up.
        await waitFor(
          () => (log.blocked.at(-1)?.blockedForMs ?? 0) > FAST.failoverTimeMs + 500,
          30_000,
          'shard blocked for a failover period',
        );
        const poisonSequence = state.sequenceOf.get(POISON);
        expect(log.blocked[0]).toMatchObject({
          shardId: SHARD,
          sequenceNumber: poisonSequence,
          subSequenceNumber: 0,
          attempts: maxAttempts,
        });
        // Reported again on each further attempt, with the attempts counted up.
        expect(log.blocked.slice(0, 3).map((e) => e.attempts)).toEqual([
          maxAttempts,
          maxAttempts + 1,
          maxAttempts + 2,
        ]);
        const metrics = consumer.metrics();
        expect(metrics.shardsBlocked).toBe(1);
        expect(metrics.shards[0]?.failingRecord).toMatchObject({
          sequenceNumber: poisonSequence,
          subSequenceNumber: 0,
        });
        expect(metrics.shards[0]?.blockedSince).toBe(metrics.shards[0]?.failingRecord?.failingSince);
        // The lease never moved: held here all along, checkpointed up to the record before the poison one.
        expect(log.moved).toEqual([]);
        expect(consumer.heldShardIds()).toEqual([SHARD]);
        const lease = await leases.getLease(SHARD);
        expect(lease?.leaseOwner).toBe(consumer.workerId);
        expect(lease?.checkpoint).toBe(state.sequenceOf.get('a:249'));
        if (form === 'per-shard factory') expect(state.created).toEqual([SHARD]);
        // Nothing after it was processed, and nothing before it twice.
        expect([...state.processed.keys()]).toEqual(keys(0, 250));
        expect([...state.processed.values()].every((n) => n === 1)).toBe(true);

        state.broken = false;
        await waitFor(
          () => state.processed.size >= BATCH,
          30_000,
          'the batch processed once the record passes',
        );
        expect([...state.processed.keys()]).toEqual(keys(0, BATCH, ''));
        expect([...state.processed.values()].every((n) => n === 1)).toBe(true);
        // Emitted once the processor call that passed has returned (and been checkpointed): not before.
        await waitFor(() => log.unblocked.length > 0, 10_000, 'shardUnblocked');
        expect(log.unblocked.map((e) => [e.sequenceNumber, e.resolution])).toEqual([
          [poisonSequence, 'processed'],
        ]);
        await waitFor(
          async () => (await leases.getLease(SHARD))?.checkpoint === state.sequenceOf.get('a:499'),
          10_000,
          'checkpointed through the batch',
        );
        expect(consumer.metrics().shardsBlocked).toBe(0);
        expect(consumer.metrics().shards[0]?.failingRecord).toBeUndefined();
        expect(log.moved).toEqual([]);
      });
    });

    it("'skip' skips exactly that one record and reports it", async () => {
      await run(form, { onProcessingFailure: 'skip' }, async ({ consumer, app, leases, log }) => {
        const { state } = app;
        await waitFor(() => state.processed.size >= BATCH - 1, 30_000, 'the rest of the batch processed');
        expect(
          log.skipped.map((e) => [e.sequenceNumber, e.subSequenceNumber, e.partitionKey, e.attempts]),
        ).toEqual([[state.sequenceOf.get(POISON), 0, 'a', maxAttempts]]);
        expect([...state.processed.keys()]).toEqual(keys(0, BATCH));
        expect([...state.processed.values()].every((n) => n === 1)).toBe(true);
        // What the processor was handed: retries start at the named record; an unnamed one is found by
        // halving, and after it is skipped the rest of the batch goes out whole.
        expect(state.callSizes).toEqual(
          form === 'per-shard factory'
            ? [500, 250, 250, 125, 63, 32, 16, 8, 4, 2, 1, 1, 1, 249]
            : [500, 250, 250, 249],
        );
        await waitFor(
          async () => (await leases.getLease(SHARD))?.checkpoint === state.sequenceOf.get('a:499'),
          10_000,
          'checkpointed through the batch',
        );
        expect(consumer.metrics().recordsSkipped).toBe(1);
        expect(log.moved).toEqual([]);
      });
    });
  },
);
