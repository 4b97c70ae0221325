import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { deaggregate } from '@shardline/aggregation';
import { KinesisProducer } from '@shardline/producer';
import {
  connectLocalStack,
  createStream,
  localStackProcessEnv,
  readAllRecords,
  uniqueName,
} from '@shardline/testkit';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createIngestServer } from '../src/server.js';

const endpoints = inject('localStack');
const stack = connectLocalStack(endpoints);
afterAll(() => stack.destroy());

async function storedPayloads(streamName: string): Promise<string[]> {
  const records = await readAllRecords(stack.kinesis, streamName);
  return records.flatMap((r) => deaggregate(r).map((u) => Buffer.from(u.data).toString('utf8'))).sort();
}

interface IngestReply {
  results?: Array<{ ok: boolean; shardId?: string; code?: string }>;
  error?: string;
}

async function post(url: string, body: unknown): Promise<{ status: number; body: IngestReply }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as IngestReply };
}

describe('ingest server', () => {
  let streamName: string;
  beforeAll(async () => {
    streamName = uniqueName('ingest');
    await createStream(stack.kinesis, { streamName, shardCount: 2 });
  });

  it('answers 200 once Kinesis has the records, 400 on bad input, 413 on a large body', async () => {
    const producer = new KinesisProducer({ client: stack.kinesis, streamName });
    const server = createIngestServer(producer, { maxBodyBytes: 10_000 }).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const ok = await post(`${url}/records`, [
        { partitionKey: 'a', data: 'one' },
        { partitionKey: 'b', dataBase64: Buffer.from('two').toString('base64') },
      ]);
      expect(ok.status).toBe(200);
      expect(ok.body.results).toHaveLength(2);
      for (const r of ok.body.results ?? [])
        expect(r).toMatchObject({ ok: true, shardId: expect.stringMatching(/^shardId-/) });

      expect((await post(`${url}/records`, 'not json')).status).toBe(400);
      expect((await post(`${url}/records`, [{ data: 'no key' }])).status).toBe(400);
      expect((await post(`${url}/records`, { partitionKey: '', data: 'x' })).status).toBe(400);
      expect((await post(`${url}/records`, { partitionKey: 'a', data: 'x'.repeat(20_000) })).status).toBe(
        413,
      );
      expect((await fetch(`${url}/healthz`)).status).toBe(200);

      expect(await storedPayloads(streamName)).toEqual(['one', 'two']);
    } finally {
      server.close();
      await producer.close();
    }
  });

  it('answers 429 with Retry-After while the producer buffer is full, and accepts again after', async () => {
    const name = uniqueName('ingest-full');
    await createStream(stack.kinesis, { streamName: name, shardCount: 1 });
    // One record fills the buffer, and it lingers for a while before being sent.
    const producer = new KinesisProducer({
      client: stack.kinesis,
      streamName: name,
      maxBufferedRecords: 1,
      maxBufferedTimeMs: 2_000,
    });
    const server = createIngestServer(producer).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/records`;
    try {
      const first = post(url, { partitionKey: 'k', data: 'first' });
      await new Promise((r) => setTimeout(r, 100));
      const refused = await fetch(url, {
        method: 'POST',
        body: JSON.stringify({ partitionKey: 'k', data: 'second' }),
      });
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect((await first).status).toBe(200);
      expect((await post(url, { partitionKey: 'k', data: 'third' })).status).toBe(200);
      expect(await storedPayloads(name)).toEqual(['first', 'third']);
    } finally {
      server.close();
      await producer.close();
    }
  });

  it('flushes and exits 0 on SIGTERM, with a request in flight answered 200', async () => {
    const name = uniqueName('ingest-term');
    await createStream(stack.kinesis, { streamName: name, shardCount: 1 });
    const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
    const child = spawn(process.execPath, ['--conditions=@shardline/source', '--import', 'tsx', main], {
      env: {
        ...localStackProcessEnv(endpoints),
        STREAM_NAME: name,
        PORT: '0',
        // Records linger in the buffer, so SIGTERM surely finds them there and must flush them.
        MAX_BUFFERED_TIME_MS: '5000',
        KINESIS_ENDPOINT: endpoints.kinesisEndpoint,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout.on('data', (c: Buffer) => {
          output += c.toString();
          const match = /listening on [\d.]+:(\d+)/.exec(output);
          if (match?.[1]) resolve(Number(match[1]));
        });
        child.once('exit', () => reject(new Error(`service exited early: ${output}`)));
      });
      const inFlight = post(`http://127.0.0.1:${port}/records`, [
        { partitionKey: 'x', data: 'in-flight-1' },
        { partitionKey: 'y', data: 'in-flight-2' },
      ]);
      const buffered = async (): Promise<number> => {
        const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as {
          pending: number;
        };
        return health.pending;
      };
      const deadline = Date.now() + 10_000;
      while ((await buffered()) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const sigtermAt = Date.now();
      child.kill('SIGTERM');
      const answer = await inFlight;
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      expect(await exited).toBe(0);
      // Flushed at once, not after the 5 s linger.
      expect(Date.now() - sigtermAt).toBeLessThan(4_000);
      expect(output).toContain('flushed: 2 stored since start, 0 failed');
      expect(await storedPayloads(name)).toEqual(['in-flight-1', 'in-flight-2']);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
