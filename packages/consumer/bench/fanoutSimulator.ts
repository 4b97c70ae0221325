// The Kinesis simulator and the load writer of the fan-out benchmark, in a process of their own, so the
// consumer processes' CPU is theirs alone (as packages/producer/bench/simulatorProcess.ts does for the
// producer). Options as JSON in argv[2]; controlled over IPC (see `Message`). Records carry their put time
// (ms since the epoch, float64, little-endian) in their first 8 bytes, so a consumer measures put-to-processor
// latency; each is placed on its shard by ExplicitHashKey, evenly.
import { Agent, request as httpRequest } from 'node:http';
import { evenHashRanges, type KinesisSimulatorOptions, startKinesisSimulator } from '@shardline/testkit';

const options = JSON.parse(process.argv[2] ?? '{}') as KinesisSimulatorOptions;
const simulator = await startKinesisSimulator({ ...options, log: { mode: 'counts' } });
const agent = new Agent({ keepAlive: true, maxSockets: 8 });
const epochMs = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

type Message =
  | { type: 'createStream'; streamName: string; shardCount: number }
  /** Writes `bytesPerShard` to every shard as fast as the simulator takes it (it must have no write limits). */
  | { type: 'prefill'; streamName: string; shardCount: number; bytesPerShard: number; recordBytes: number }
  /** Writes `bytesPerSecondPerShard` to every shard for `seconds`, in small requests every `tickMs`. */
  | {
      type: 'load';
      streamName: string;
      shardCount: number;
      bytesPerSecondPerShard: number;
      recordBytes: number;
      seconds: number;
      tickMs: number;
    }
  | { type: 'stats' }
  | { type: 'stop' };

interface WriteCount {
  records: number;
  throttled: number;
  failedRequests: number;
  lastError?: string;
  /** PutRecords round trips: count, total and worst ms. */
  requests?: { count: number; totalMs: number; maxMs: number };
}

/** `count` entries, dealt round-robin over the shards starting at `first`, stamped now. */
interface Entry {
  partitionKey: string;
  explicitHashKey: string;
  data: Uint8Array;
}

function entries(shardCount: number, count: number, first: number, recordBytes: number): Entry[] {
  const ranges = evenHashRanges(shardCount);
  const stamp = epochMs();
  return Array.from({ length: count }, (_, i) => {
    const data = new Uint8Array(recordBytes - 1); // + the 1-character partition key = recordBytes
    new DataView(data.buffer).setFloat64(0, stamp, true);
    const range = ranges[(first + i) % shardCount];
    return { partitionKey: 'k', explicitHashKey: String((range?.start ?? 0n) + 1n), data };
  });
}

/**
 * PutRecords over a raw keep-alive HTTP/1.1 connection (no SDK: signing and serialization would cost this
 * process more CPU than serving the request does, and delay every other answer).
 */
async function put(streamName: string, records: Entry[], count: WriteCount): Promise<void> {
  const startedAt = performance.now();
  const body = JSON.stringify({
    StreamName: streamName,
    Records: records.map((r) => ({
      PartitionKey: r.partitionKey,
      ExplicitHashKey: r.explicitHashKey,
      Data: Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength).toString('base64'),
    })),
  });
  try {
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const request = httpRequest(
        simulator.endpoint,
        {
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/x-amz-json-1.1',
            'x-amz-target': 'Kinesis_20131202.PutRecords',
            'content-length': Buffer.byteLength(body),
          },
          timeout: 30_000,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
          );
          response.on('error', reject);
        },
      );
      request.on('timeout', () => request.destroy(new Error('PutRecords timed out')));
      request.on('error', reject);
      request.end(body);
    });
    if (answer.status !== 200) throw new Error(`PutRecords answered ${answer.status}`);
    const failed = (JSON.parse(answer.text) as { FailedRecordCount?: number }).FailedRecordCount ?? 0;
    const ms = performance.now() - startedAt;
    count.requests ??= { count: 0, totalMs: 0, maxMs: 0 };
    count.requests.count++;
    count.requests.totalMs += ms;
    count.requests.maxMs = Math.max(count.requests.maxMs, ms);
    count.throttled += failed;
    count.records += records.length - failed;
  } catch (error) {
    count.failedRequests++;
    count.lastError = error instanceof Error ? error.message : String(error);
  }
}

async function prefill(m: Extract<Message, { type: 'prefill' }>): Promise<WriteCount & { ms: number }> {
  const startedAt = performance.now();
  const count: WriteCount = { records: 0, throttled: 0, failedRequests: 0 };
  const total = Math.ceil(m.bytesPerShard / m.recordBytes) * m.shardCount;
  const perRequest = Math.min(500, Math.floor((4 * 1024 * 1024) / m.recordBytes));
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < total && count.failedRequests < 100) {
      const n = Math.min(perRequest, total - next);
      const batch = entries(m.shardCount, n, next, m.recordBytes);
      next += n;
      await put(m.streamName, batch, count);
    }
  };
  await Promise.all(Array.from({ length: 4 }, lane));
  return { ...count, ms: performance.now() - startedAt };
}

async function load(m: Extract<Message, { type: 'load' }>): Promise<WriteCount> {
  const count: WriteCount = { records: 0, throttled: 0, failedRequests: 0 };
  const perSecond = (m.bytesPerSecondPerShard / m.recordBytes) * m.shardCount;
  const startedAt = performance.now();
  const inFlight = new Set<Promise<void>>();
  let sent = 0;
  for (;;) {
    const elapsed = performance.now() - startedAt;
    if (elapsed >= m.seconds * 1000) break;
    // Records due by now; if the requests in flight hold up a tick, the next one sends what came due meanwhile.
    const due = Math.floor((elapsed / 1000) * perSecond) - sent;
    for (let left = due; left > 0 && inFlight.size < 8; ) {
      const n = Math.min(left, 500);
      const request = put(m.streamName, entries(m.shardCount, n, sent, m.recordBytes), count);
      sent += n;
      left -= n;
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
    }
    await sleep(m.tickMs);
  }
  await Promise.all(inFlight);
  return count;
}

process.on('message', (message: Message) => {
  if (message.type === 'createStream') {
    simulator.createStream(message.streamName, message.shardCount);
    process.send?.({ type: 'created' });
  } else if (message.type === 'prefill') {
    void prefill(message).then((result) => process.send?.({ type: 'prefilled', ...result }));
  } else if (message.type === 'load') {
    void load(message).then((result) => process.send?.({ type: 'loaded', ...result }));
  } else if (message.type === 'stats') {
    process.send?.({
      type: 'stats',
      stats: simulator.stats(),
      fanOut: simulator.fanOutStats(),
      subscriptions: simulator.subscriptions().length,
    });
  } else {
    void simulator.stop().then(() => process.exit(0));
  }
});
process.send?.({ type: 'ready', endpoint: simulator.endpoint, region: simulator.region });
