import {
  createStream,
  Faults,
  injectDynamoDBFaults,
  injectKinesisFaults,
  uniqueName,
} from '@shardline/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { KinesisConsumer, type UserRecord } from '../src/index.js';
import { FAST, localStack, putKeyed, waitFor } from './helpers.js';

const stack = localStack();
afterAll(() => stack.destroy());

describe('injected faults', () => {
  it('throttling, expired iterators, 5xx, lost responses and condition failures: nothing lost', async () => {
    const streamName = uniqueName('faults');
    const applicationName = uniqueName('app');
    await createStream(stack.kinesis, { streamName, shardCount: 2 });
    const kinesisClient = stack.createKinesisClient();
    const dynamoDBClient = stack.createDynamoDBClient();
    const kinesisFaults = injectKinesisFaults(kinesisClient, {
      seed: 7,
      rules: [
        {
          name: 'throttled',
          operations: ['GetRecords'],
          probability: 0.2,
          times: 10,
          action: Faults.throughputExceeded(),
        },
        { name: 'expired', operations: ['GetRecords'], skip: 3, times: 3, action: Faults.expiredIterator() },
        {
          name: '5xx',
          operations: ['GetRecords', 'GetShardIterator'],
          probability: 0.1,
          times: 6,
          action: Faults.serverError(503),
        },
        {
          name: 'reset',
          operations: ['GetRecords'],
          probability: 0.05,
          times: 3,
          action: Faults.connectionReset(),
        },
      ],
    });
    const dynamoFaults = injectDynamoDBFaults(dynamoDBClient, {
      seed: 11,
      rules: [
        // A spurious condition failure: looks like a lost race, so the lease is dropped and re-taken.
        {
          name: 'condition',
          operations: ['UpdateItem'],
          // On the lease table (the heartbeat table has no conditions to fail).
          match: (call) => call.input.TableName === applicationName,
          skip: 3,
          times: 2,
          action: Faults.conditionalCheckFailed(),
        },
        // The write lands but its response is lost: the SDK retry then fails its condition.
        {
          name: 'lostResponse',
          operations: ['UpdateItem'],
          match: (call) => call.attempt === 1,
          probability: 0.3,
          times: 3,
          action: Faults.timeout({ afterMs: 20, reachesServer: true }),
        },
        { name: 'throttled', probability: 0.1, times: 6, action: Faults.dynamoDBThrottling() },
      ],
    });
    const processed = new Set<string>();
    const consumer = new KinesisConsumer({
      kinesisClient,
      dynamoDBClient,
      streamName,
      applicationName,
      initialPosition: 'TRIM_HORIZON',
      ...FAST,
      processor: async (records: UserRecord[]) => {
        for (const record of records) processed.add(new TextDecoder().decode(record.data));
      },
    });
    try {
      await consumer.start();
      let written = 0;
      for (let round = 0; round < 8; round++) {
        written += await putKeyed(stack.kinesis, streamName, ['a', 'b', 'c', 'd'], round * 10, 10);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      // Also until the expired-iterator rule has fired its three times: on a loaded machine the records can all
      // come in the first GetRecords of each shard, before the rule's turn.
      await waitFor(
        () => processed.size >= written && (kinesisFaults.counters().byRule.expired ?? 0) >= 3,
        30_000,
        `all ${written} records processed and three iterators expired`,
      );
      expect(processed.size).toBe(written);
      const fired = { ...kinesisFaults.counters().byRule, ...prefix('ddb.', dynamoFaults.counters().byRule) };
      expect(fired.expired).toBe(3);
      expect(fired.throttled).toBeGreaterThan(0);
      expect(fired['ddb.lostResponse']).toBeGreaterThan(0);
      // The spurious condition failure looked like a lost lease: dropped, then taken back.
      expect(fired['ddb.condition']).toBe(2);
      const metrics = consumer.metrics();
      expect(metrics.leasesLost).toBeGreaterThanOrEqual(1);
      expect(metrics.leasesTaken).toBeGreaterThanOrEqual(3);
    } finally {
      await consumer.stop({ timeoutMs: 5_000 });
      kinesisFaults.remove();
      dynamoFaults.remove();
    }
  });
});

function prefix(p: string, record: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [p + k, v]));
}
