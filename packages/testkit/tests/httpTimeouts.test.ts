/**
 * The testkit's clients give up on a request that never gets an answer. With @smithy/node-http-handler 4.x a
 * bare `requestTimeout` only logs a warning and the request waits forever, so LOCAL_HTTP_TIMEOUTS also sets
 * `throwOnRequestTimeout` and `socketTimeout`. Each case shortens one timeout of the real set and keeps the
 * others, against a local server that accepts connections and then goes silent.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { DescribeStreamSummaryCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import type { NodeHttpHandlerOptions } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_CREDENTIALS, LOCAL_HTTP_TIMEOUTS, localRequestHandler } from '../src/index.js';

let server: Server;
let endpoint: string;
const sockets = new Set<Socket>();

beforeAll(async () => {
  // `/silent` never answers; `/stalled` sends its headers and part of a body, then nothing more.
  server = createServer((request, response) => {
    if (request.url?.startsWith('/stalled')) {
      response.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'content-length': '100' });
      response.write('{"StreamDescriptionSummary":');
    }
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function describeThrough(path: string, options: NodeHttpHandlerOptions): Promise<unknown> {
  const client = new KinesisClient({
    endpoint: `${endpoint}${path}`,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
    requestHandler: localRequestHandler(options),
  });
  try {
    return await client.send(new DescribeStreamSummaryCommand({ StreamName: 'never-answered' }));
  } catch (error) {
    return error;
  } finally {
    client.destroy();
  }
}

describe('LOCAL_HTTP_TIMEOUTS', () => {
  it('are set, each of them', () => {
    expect(LOCAL_HTTP_TIMEOUTS).toEqual({
      connectionTimeout: expect.any(Number),
      requestTimeout: expect.any(Number),
      throwOnRequestTimeout: true,
      socketTimeout: expect.any(Number),
    });
  });

  it('fail a request whose response never begins, at requestTimeout', async () => {
    const started = performance.now();
    const error = await describeThrough('/silent', { requestTimeout: 300 });
    expect(error).toMatchObject({ name: 'TimeoutError' });
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('fail a request whose response stalls part way, at socketTimeout', async () => {
    const started = performance.now();
    const error = await describeThrough('/stalled', { socketTimeout: 300 });
    expect(error).toMatchObject({ name: 'TimeoutError' });
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
