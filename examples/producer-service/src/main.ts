/**
 * Runs the ingestion service. Configuration from the environment:
 *   STREAM_NAME (required), PORT (default 8080), HOST (default 127.0.0.1), MAX_BUFFERED_TIME_MS (the
 *   producer's linger, default 100),
 *   AWS_REGION and credentials from the standard SDK chain, KINESIS_ENDPOINT (optional, for a local stack).
 * On SIGTERM or SIGINT it stops accepting requests, lets in-flight ones finish, flushes the producer and
 * exits 0 (1 if anything could not be flushed within SHUTDOWN_TIMEOUT_MS, default 25,000).
 */
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { KinesisProducer } from '@shardline/producer';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { createIngestServer } from './server.js';

const streamName = process.env.STREAM_NAME;
if (!streamName) {
  console.error('set STREAM_NAME');
  process.exit(2);
}
const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';
const shutdownTimeoutMs = Number(process.env.SHUTDOWN_TIMEOUT_MS ?? 25_000);

// Plain HTTP/1.1 with real timeouts, against AWS and a local endpoint alike. The SDK's default Kinesis
// handler is HTTP/2, which local HTTP/1.1 endpoints (kinesis-local) do not serve reliably, and no SDK handler
// has a timeout by default. With @smithy/node-http-handler 4.x `requestTimeout` alone only logs a warning:
// `throwOnRequestTimeout` fails a request whose response never begins, `socketTimeout` one that stalls. The
// producer retries such failures and bounds each attempt itself (`requestTimeoutMs`).
const client = new KinesisClient({
  ...(process.env.KINESIS_ENDPOINT ? { endpoint: process.env.KINESIS_ENDPOINT } : {}),
  requestHandler: new NodeHttpHandler({
    connectionTimeout: 5_000,
    requestTimeout: 30_000,
    throwOnRequestTimeout: true,
    socketTimeout: 30_000,
  }),
});
const producer = new KinesisProducer({
  client,
  streamName,
  maxBufferedTimeMs: Number(process.env.MAX_BUFFERED_TIME_MS ?? 100),
});
const server = createIngestServer(producer);

server.listen(port, host, () => {
  const address = server.address();
  const bound =
    address && typeof address === 'object' ? `${address.address}:${address.port}` : String(address);
  console.log(`listening on ${bound}`);
});

let shuttingDown = false;
async function shutdown(signal: string): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  console.log(`${signal}: draining`);
  const timer = setTimeout(() => {
    console.error('shutdown timed out');
    process.exit(1);
  }, shutdownTimeoutMs);
  // Stop accepting connections and flush at once: requests in flight are waiting for their records, which
  // must not sit out the linger. A request still reading its body when this runs gets 503 (retry).
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const { failed } = await producer.close();
  await closed;
  client.destroy();
  clearTimeout(timer);
  const m = producer.metrics();
  console.log(`flushed: ${m.UserRecordsPut} stored since start, ${m.UserRecordsFailed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
