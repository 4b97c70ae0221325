import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { KinesisProducer } from '@shardline/producer';
import { connectLocalStack, createStream, localStackProcessEnv, uniqueName } from '@shardline/testkit';
import { afterAll, describe, expect, inject, it } from 'vitest';

const endpoints = inject('localStack');
const stack = connectLocalStack(endpoints);
afterAll(() => stack.destroy());

describe('consumer-worker example', () => {
  it('processes records, prints metrics, and on SIGTERM checkpoints, releases its leases and exits 0', async () => {
    const streamName = uniqueName('worker');
    const applicationName = uniqueName('worker-app');
    await createStream(stack.kinesis, { streamName, shardCount: 2 });
    const producer = new KinesisProducer({ client: stack.kinesis, streamName });
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => producer.put({ partitionKey: `k${i % 7}`, data: `record ${i}` })),
    );
    await producer.close();

    const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
    const child = spawn(process.execPath, ['--conditions=@shardline/source', '--import', 'tsx', main], {
      env: {
        ...localStackProcessEnv(endpoints),
        STREAM_NAME: streamName,
        APPLICATION_NAME: applicationName,
        INITIAL_POSITION: 'TRIM_HORIZON',
        METRICS_INTERVAL_MS: '200',
        KINESIS_ENDPOINT: endpoints.kinesisEndpoint,
        DYNAMODB_ENDPOINT: endpoints.dynamoDBEndpoint,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: Array<Record<string, unknown>> = [];
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    let partial = '';
    child.stdout.on('data', (c: Buffer) => {
      partial += c.toString();
      const complete = partial.split('\n');
      partial = complete.pop() ?? '';
      for (const line of complete) if (line.trim()) lines.push(JSON.parse(line));
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 30_000;
      const processed = (): number =>
        Math.max(0, ...lines.filter((l) => l.event === 'metrics').map((l) => Number(l.recordsProcessed)));
      while (processed() < 50 && Date.now() < deadline && child.exitCode === null) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(processed(), stderr).toBe(50);

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      const stopped = lines.find((l) => l.event === 'stopped');
      expect(stopped).toMatchObject({ recordsProcessed: 50 });

      const { Items = [] } = await stack.dynamoDB.send(new ScanCommand({ TableName: applicationName }));
      expect(Items).toHaveLength(2);
      for (const item of Items) {
        expect(item.leaseOwner).toBeUndefined(); // released, not left to expire
        expect(item.checkpoint?.S).toMatch(/^\d+$/);
      }
    } finally {
      child.kill('SIGKILL');
    }
  });
});
